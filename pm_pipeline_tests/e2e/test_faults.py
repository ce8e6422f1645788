"""Faults of the services under the commands, reproduced for real: Postgres ending the
connection in the middle of `ingest` (pg_terminate_backend, as a restart does), and a disk
that takes no more bytes during `score` (a file-size limit on the command's process, which
makes the kernel refuse writes with EFBIG, as a full disk refuses them with ENOSPC). Each
ends in one `error:` line, a failed run, and nothing half-stored."""

import resource
import shutil
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.cli.app import main
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import SAMPLE_START, generate_robot_readings, write_export
from pm_pipeline.defs.execution import local_instance
from pm_pipeline_tests import commands
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.in_process import run_main

pytestmark = pytest.mark.slow  # a model trained through the command line, once per module


def blocked_by(url: str, holder: int) -> list[int]:
    """The backends waiting for a lock ``holder`` holds."""
    with sa.create_engine(url, poolclass=sa.NullPool).connect() as connection:
        return list(
            connection.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE CAST(:holder AS integer) = ANY(pg_blocking_pids(pid))"
                ),
                {"holder": holder},
            ).scalars()
        )


class BackendKiller(threading.Thread):
    """Locks the ingested-files table, so an ingest waits at its last statement with all its
    readings sent; ends that backend as a server restart would, then lets go."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.killed = url, 0
        self.locked = threading.Event()

    def run(self) -> None:
        engine = sa.create_engine(self.url, poolclass=sa.NullPool)
        with engine.connect() as holder:
            holder.execute(sa.text("LOCK TABLE pm_ingested_files IN ACCESS EXCLUSIVE MODE"))
            pid = int(holder.execute(sa.text("SELECT pg_backend_pid()")).scalar() or 0)
            self.locked.set()
            try:
                wait_for(lambda: bool(blocked_by(self.url, pid)), 120, "the ingest to wait")
                [victim] = blocked_by(self.url, pid)
                holder.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
                self.killed = victim
            finally:
                holder.rollback()


def test_postgres_ending_the_connection_mid_ingest_is_one_line_and_stores_nothing(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PM_DATABASE_URL", postgres_url)
    monkeypatch.setenv("PM_STATE_DIR", str(tmp_path / "state"))
    export = tmp_path / "day.csv"
    write_export(generate_robot_readings(6.0, SAMPLE_START, seed=5), export)
    killer = BackendKiller(postgres_url)
    killer.start()
    killer.locked.wait(30)
    assert main(["ingest", str(export)]) == 1
    killer.join(30)
    assert killer.killed
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "the connection to the database was lost" in line
    assert "nothing of it was stored" in line and "Run it again" in line
    with sa.create_engine(postgres_url).connect() as connection:
        stored = connection.execute(sa.text("SELECT count(*) FROM pm_readings")).scalar()
        files = connection.execute(sa.text("SELECT count(*) FROM pm_ingested_files")).scalar()
    assert stored == files == 0  # all or nothing
    assert main(["ingest", str(export)]) == 0  # once the database is back, it goes in


@pytest.fixture(scope="module")
def trained_state(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A site folder with history ingested and a model trained through the command's entry
    point (in this process: the faults are met by the commands each test starts), and a copy
    of its state folder to start each test from."""
    site = tmp_path_factory.mktemp("site")
    readings = generate_robot_readings(12.0, SAMPLE_START, seed=11)
    split = readings[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=8)
    write_export(readings[readings[TIME_COLUMN] < split], site / "history.csv")
    write_export(readings[readings[TIME_COLUMN] >= split], site / "landed.csv")
    env = site_env(site / ".pm_state")
    run_main("ingest", "history.csv", cwd=site, env=env)
    run_main("train", cwd=site, env=env)
    pristine = tmp_path_factory.mktemp("pristine") / "state"
    shutil.copytree(site / ".pm_state", pristine)
    # Our SQLite database keeps a write-ahead log, which this process's engine may or may not
    # have folded back by now; each test starts from the database with none.
    with sqlite3.connect(pristine / "readings.db") as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return site, pristine


def site_env(state: Path) -> dict[str, str]:
    return commands.clean_env({"PM_STATE_DIR": str(state), **commands.PLUMBING_MODE})


def with_file_size_limit(limit: int):
    def limit_file_size() -> None:  # in the child, before the command starts
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_file_size


def stored_readings(state: Path) -> int:
    with sqlite3.connect(state / "readings.db") as connection:
        return connection.execute("SELECT count(*) FROM pm_readings").fetchone()[0]


@pytest.mark.parametrize(
    "where",
    [
        "readings",  # the readings database cannot grow: the run's step fails
        "dagster",  # Dagster's own storage cannot grow: the run cannot even record its end
    ],
)
def test_a_full_disk_during_score_is_one_line_and_a_failed_run(
    tmp_path: Path,
    trained_state: tuple[Path, Path],
    where: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site, pristine = trained_state
    state = tmp_path / "state"
    shutil.copytree(pristine, state)
    env = site_env(state)
    before = stored_readings(state)
    # The limit is on any write past that offset, in every file. The readings go to the
    # write-ahead log, empty at the start: Dagster's files may grow by 256 KB, the landed
    # readings need more than that (over 1 MB).
    dagster_files = (state / "dagster_home").rglob("*.db")
    largest_dagster_file = max(path.stat().st_size for path in dagster_files)
    limit = largest_dagster_file + (256 << 10) if where == "readings" else 100_000
    completed = subprocess.run(
        [commands.CLI, "score", "landed.csv"],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=with_file_size_limit(limit),
    )
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr, completed.stderr
    [line] = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert "is the disk full?" in line or "disk full" in line, line
    assert "Free disk space" in line, line
    assert where != "readings" or "storing the readings of landed.csv" in line, line
    assert stored_readings(state) == before  # all or nothing
    # The next command ends a run its storage could not end; none stays unfinished.
    monkeypatch.setenv("PM_STATE_DIR", str(state))
    monkeypatch.setenv("DAGSTER_HOME", str(state / "dagster_home"))
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    with local_instance() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="landed_files_job"))
        assert [run.status for run in runs] == [dg.DagsterRunStatus.FAILURE]
