"""A password planted in both database URLs, the webhook URL and the SMTP login shows up
nowhere: not in what the commands print, not in any file they write, not in the Dagster
runs, event logs and metadata, not in the notifications' ``last_error``, and not in any
table of either database. Every way of writing a password into a database URL (in the user
information, in the query as ``?password=``, with an unescaped ``@``, in a URL missing
``://``) stays masked in error lines, which name the variable the URL came from. Also, no
file in the repository holds a credential."""

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.config.settings import load_settings
from pm_pipeline.db.engine import open_engine
from pm_pipeline.services.notifications import channels_from, deliver_due
from pm_pipeline_tests.commands import PLUMBING_MODE
from pm_pipeline_tests.conftest import PROJECT_ROOT, skip_or_fail
from pm_pipeline_tests.e2e.test_cli_postgres import PLANTED, run_cli
from pm_pipeline_tests.in_process import run_main
from pm_pipeline_tests.receivers import free_port

# A URL that carries a password: scheme://user:password@host
URL_WITH_PASSWORD = re.compile(r"[a-z0-9+]+://[^\s/:@'\"]+:([^\s/@'\"]+)@", re.IGNORECASE)
# Placeholders in docs and messages, and the dummy passwords tests use on purpose.
PLACEHOLDERS = {"password", "…", "***", PLANTED, "{PLANTED}", "{AT_PASSWORD}"}  # *** is masked
TEST_DUMMIES = {"secret", "s3cret"}


def with_password(url: str) -> str:
    assert "://postgres@" in url, url
    return url.replace("://postgres@", f"://postgres:{PLANTED}@", 1)


def schema_of(url: str) -> str:
    match = re.search(r"search_path%3D(\w+)", url)
    assert match, url
    return match.group(1)


def dump_schema(schema: str) -> bytes:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        skip_or_fail("pg_dump is not installed")
        return b""
    completed = subprocess.run(
        [pg_dump, "-h", "127.0.0.1", "-U", "postgres", "-n", schema, "--data-only", "test"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return completed.stdout


@pytest.mark.slow
def test_a_planted_password_leaks_nowhere(
    tmp_path: Path, postgres_schema_url: Callable[[], str]
) -> None:
    readings_url, dagster_url = postgres_schema_url(), postgres_schema_url()
    env = {
        "PM_DATABASE_URL": with_password(readings_url),
        "DAGSTER_PG_URL": with_password(dagster_url),
        **PLUMBING_MODE,
        **receivers_that_refuse(),
    }
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    outputs = [run_cli(tmp_path, env, "db", "upgrade"), run_cli(tmp_path, env, "run")]
    assert outputs[1].returncode == 0, outputs[1].stderr
    bad = tmp_path / "bad.csv"
    bad.write_text('"Trait","Axis #1","Time"\n"current",abc,"2022-10-17T12:00:00Z"\n')
    export = tmp_path / "export"
    outputs += [
        run_cli(tmp_path, env, "score", str(bad), expect=1),
        run_cli(tmp_path, env, "models"),
        run_cli(tmp_path, env, "lineage", "1"),
        run_cli(tmp_path, env, "export", "--out", str(export)),
    ]
    assert outputs[2].returncode == 1  # a failed run's error travels through Dagster too
    errors = deliver_to_nobody(env)
    assert set(errors) == {"webhook", "email"}, errors  # each tried and failed, its error kept
    assert (export / "events.csv").is_file()  # the export wrote its files, and they are checked
    for completed in outputs:
        assert PLANTED not in completed.stdout + completed.stderr, completed.args
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.suffix == ".db" or "dagster_home" in str(path) for path in written)
    for path in written:
        assert PLANTED.encode() not in path.read_bytes(), path
    dagster_rows = dump_schema(schema_of(dagster_url))
    assert b"file_events" in dagster_rows  # the runs, event log and metadata are in there
    assert PLANTED.encode() not in dagster_rows
    assert PLANTED.encode() not in dump_schema(schema_of(readings_url))


def receivers_that_refuse() -> dict[str, str]:
    """A webhook and an SMTP server, both with the planted secret, where nothing listens."""
    return {
        "PM_ALERT_WEBHOOK_URL": (
            f"http://hook:{PLANTED}@127.0.0.1:{free_port()}/services/{PLANTED}?token={PLANTED}"
        ),
        "PM_SMTP_HOST": "127.0.0.1",
        "PM_SMTP_PORT": str(free_port()),
        "PM_SMTP_SECURITY": "none",
        "PM_SMTP_USER": "pm",
        "PM_SMTP_PASSWORD": PLANTED,
        "PM_ALERT_EMAIL_FROM": "pm@example.com",
        "PM_ALERT_EMAIL_TO": "ops@example.com",
    }


def deliver_to_nobody(env: dict[str, str]) -> dict[str, str]:
    """One sender tick, as the notification sensor runs it; each channel's stored error."""
    settings = load_settings(env)
    engine = open_engine(env["PM_DATABASE_URL"])
    deliver_due(engine, channels_from(settings), retry_base_s=60)
    with engine.connect() as connection:
        rows = pd.read_sql(
            sa.text("SELECT channel, last_error FROM pm_notification_outbox"), connection
        )
    engine.dispose()
    return dict(rows.dropna().drop_duplicates("channel").itertuples(index=False, name=None))


AT_PASSWORD = f"Hunter2@{PLANTED}"
"""A password with an unescaped '@': its tail must not show as a host."""
URL_FORMS = {
    "query-password": (
        "PM_DATABASE_URL",
        f"postgresql://bob@127.0.0.1:1/neondb?sslmode=disable&password={PLANTED}",
        "database 'neondb' on 127.0.0.1:1 as user 'bob'",
    ),
    "missing-scheme-slashes": (
        "PM_DATABASE_URL",
        f"postgres//admin:{PLANTED}@db.example/neondb",
        "PM_DATABASE_URL: database URL 'postgres//admin:***@db.example/neondb' is not a valid",
    ),
    "unescaped-at": (
        "PM_DATABASE_URL",
        f"postgresql://admin:{AT_PASSWORD}@db.example:5432/neondb",
        "URL-encode a user name or password that holds '@'",
    ),
    "plain-DATABASE_URL": (
        "DATABASE_URL",
        f"postgresql://bob:{PLANTED}@127.0.0.1:1/neondb",
        "Check DATABASE_URL (postgresql+psycopg2://bob:***@127.0.0.1:1/neondb)",
    ),
    "malformed-DATABASE_URL": (
        "DATABASE_URL",
        f"postgresql://bob:{PLANTED}@db.example:notaport/neondb",
        "DATABASE_URL: database URL 'postgresql://bob:***@db.example:notaport/neondb'",
    ),
}


@pytest.mark.parametrize("form", list(URL_FORMS))
@pytest.mark.parametrize("command", [("ingest", "missing.csv"), ("db", "upgrade")])
def test_every_url_form_is_masked_in_the_error_line(
    tmp_path: Path, form: str, command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    # Ten error lines from the command's entry point in this process; the real command's
    # exit code and stderr for a bad URL are checked by test_cli_postgres.py.
    variable, url, says = URL_FORMS[form]
    env = {"PM_STATE_DIR": str(tmp_path / ".pm_state"), variable: url}
    completed = run_main(*command, env=env, cwd=tmp_path, capsys=capsys, expect=1)
    [line] = completed.stderr.splitlines()
    assert line.startswith("error: ") and says in line, line
    assert PLANTED not in completed.stdout + completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr
    if variable == "DATABASE_URL":
        assert "PM_DATABASE_URL" not in line


def test_a_password_in_the_query_is_masked_where_the_url_is_shown(
    tmp_path: Path, postgres_schema_url: Callable[[], str]
) -> None:
    url = f"{postgres_schema_url()}&password={PLANTED}"  # the server trusts local logins
    outputs = [
        run_cli(tmp_path, {"PM_DATABASE_URL": url}, "db", "upgrade"),
        run_cli(tmp_path, {"PM_DATABASE_URL": url}, "db", "current"),
        run_cli(tmp_path, {"PM_DATABASE_URL": url}, "models"),
    ]
    for completed in outputs:
        assert PLANTED not in completed.stdout + completed.stderr


def test_no_file_in_the_repository_holds_a_credential() -> None:
    if not (PROJECT_ROOT / ".git").exists():
        skip_or_fail("not a git checkout")
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    found = []
    for name in filter(None, tracked):
        path = PROJECT_ROOT / os.fsdecode(name)
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        for match in URL_WITH_PASSWORD.finditer(text):
            allowed = PLACEHOLDERS | (
                TEST_DUMMIES if name.startswith(b"pm_pipeline_tests/") else set()
            )
            if match.group(1) in allowed:
                continue
            found.append(f"{name.decode()}: {match.group(0)}")
    assert not found, found
