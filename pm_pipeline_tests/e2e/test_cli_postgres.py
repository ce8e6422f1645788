"""`pm-pipeline` against the real Postgres server: COPY ingest of the real export, and
connection errors that name host and database but never the password."""

import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from pm_pipeline_tests import commands

PLANTED = "pl4nted-s3cret"


def run_cli(
    cwd: Path, env_overrides: dict[str, str], *args: str, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    """``pm-pipeline ARGS`` with its state in ``cwd``; it must exit ``expect``."""
    env = commands.clean_env({"PM_STATE_DIR": str(cwd / ".pm_state"), **env_overrides})
    return commands.run_cli(*args, cwd=cwd, env=env, expect=expect)


def test_real_export_ingests_once(tmp_path: Path, postgres_url: str, real_export: Path) -> None:
    env = {"PM_DATABASE_URL": postgres_url}
    first = run_cli(tmp_path, env, "ingest", str(real_export))
    assert first.returncode == 0, first.stderr
    assert "39672 rows added, 0 already present" in first.stdout
    again = run_cli(tmp_path, env, "ingest", str(real_export))
    assert "0 rows added, 39672 already present" in again.stdout
    with sa.create_engine(postgres_url).connect() as connection:
        rows, distinct = connection.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT (robot_id, timestamp_recorded)) FROM pm_readings"
            )
        ).one()
        index = connection.execute(
            sa.text("SELECT indexdef FROM pg_indexes WHERE tablename = 'pm_readings'")
        ).scalar()
    assert rows == distinct == 39_672
    assert "(robot_id, timestamp_recorded)" in str(index)


def test_file_with_a_bad_row_leaves_nothing(
    tmp_path: Path, postgres_url: str, real_export: Path
) -> None:
    lines = real_export.read_text().splitlines(keepends=True)[:2001]
    lines[1500] = lines[1500].replace('"current",0,', '"current",zero,', 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("".join(lines))
    completed = run_cli(tmp_path, {"PM_DATABASE_URL": postgres_url}, "ingest", str(bad), expect=1)
    assert completed.returncode == 1
    assert "line 1501, column 'Axis #1'" in completed.stderr
    with sa.create_engine(postgres_url).connect() as connection:
        inspector = sa.inspect(connection)
        if inspector.has_table("pm_readings"):
            assert connection.execute(sa.text("SELECT count(*) FROM pm_readings")).scalar() == 0


@pytest.mark.parametrize(
    ("variable", "url", "says"),
    [
        (
            "PM_DATABASE_URL",
            f"postgresql://bob:{PLANTED}@db.example:notaport/neondb",
            "not a valid SQLAlchemy URL",
        ),
        (
            "PM_DATABASE_URL",
            f"postgresql://bob:{PLANTED}@127.0.0.1:1/neondb",
            "database 'neondb' on 127.0.0.1:1 as user 'bob'",
        ),
        (
            "DATABASE_URL",
            f"postgresql://nobody_pm:{PLANTED}@127.0.0.1:5432/test?sslmode=disable",
            'role "nobody_pm" does not exist',
        ),
        (
            "PM_DATABASE_URL",
            f"postgresql://postgres:{PLANTED}@127.0.0.1:5432/no_such_db",
            "database 'no_such_db' on 127.0.0.1:5432",
        ),
    ],
    ids=["malformed", "refused", "unknown-role", "unknown-database"],
)
@pytest.mark.parametrize("command", ["ingest", "train"])
def test_connection_errors_are_one_line_without_password(
    tmp_path: Path, real_export: Path, variable: str, url: str, says: str, command: str
) -> None:
    args = ("ingest", str(real_export)) if command == "ingest" else ("train",)
    completed = run_cli(tmp_path, {variable: url}, *args, expect=1)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1
    assert PLANTED not in output
    assert "Traceback" not in output
    assert completed.stderr.startswith("error: ") and completed.stderr.count("\n") == 1
    assert says in completed.stderr
    # `train` reaches our tables before it loads Dagster: no training run was started.
    assert "training run" not in completed.stderr
    # Nor in anything stored: run logs, the event log, the instance's SQLite files.
    state = tmp_path / ".pm_state"
    for path in state.rglob("*") if state.exists() else []:
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path
