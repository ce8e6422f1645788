"""A password planted in both database URLs shows up nowhere: not in what the commands print,
not in any file they write, not in the Dagster runs, event logs and metadata, and not in any
table of either database. Also, no file in the repository holds a credential."""

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pm_pipeline_tests.commands import PLUMBING_MODE
from pm_pipeline_tests.conftest import PROJECT_ROOT, skip_or_fail
from pm_pipeline_tests.e2e.test_cli_postgres import PLANTED, run_cli

# A URL that carries a password: scheme://user:password@host
URL_WITH_PASSWORD = re.compile(r"[a-z0-9+]+://[^\s/:@'\"]+:([^\s/@'\"]+)@", re.IGNORECASE)
# Placeholders in docs and messages, and the dummy passwords tests use on purpose.
PLACEHOLDERS = {"password", "…", "***", PLANTED, "{PLANTED}"}  # *** is a masked one
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
