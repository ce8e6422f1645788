"""A scoring run is killed with SIGKILL in the middle of writing its events: nothing is left
half-written (neither the file's readings nor its events: they share one transaction), and
Dagster's own run monitoring and run retries still score the file, once.

The run is caught at one exact point without touching its code: the test holds a row lock
on the model's registry row, so the run's INSERT of events (whose foreign key needs that
row) waits after its DELETE of the file's earlier events, inside the one transaction. The run
worker (with its step process), or the whole daemon with its code server and workers, is then
killed. The file was scored before, so "half-written" would show as earlier events gone.
"""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.detection.registry import detect_events
from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import SAMPLE_START, generate_robot_readings, write_export
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import read_events, replace_events, source_lock_key
from pm_pipeline.db.registry import active_model_version, load_model
from pm_pipeline.defs.sensors import RERUN_OF_TAG
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.e2e.daemon_harness import DaemonSite, kill_tree, use_local_instance_settings

pytestmark = pytest.mark.slow  # a real dagster-daemon; `pytest -m "not slow"` leaves it out

ROBOT = "robot-1"
NAME = "line.csv"
HISTORY_HOURS = 8.0
WORKER_PID = re.compile(r"Started process for run \(pid: (\d+)\)")


@pytest.fixture
def readings() -> pd.DataFrame:
    return generate_robot_readings(HISTORY_HOURS + 12, SAMPLE_START, seed=11)


def trained_site(site: DaemonSite, readings: pd.DataFrame) -> None:
    """History ingested and a model trained, through the command's entry point in this process."""
    split = readings[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=HISTORY_HOURS)
    history = site.root / "history.csv"
    write_export(readings[readings[TIME_COLUMN] < split], history)
    site.run_here("ingest", str(history))
    site.run_here("train")


def scored_before(site: DaemonSite, landed: pd.DataFrame) -> pd.DataFrame:
    """Events stored for NAME by an earlier run (an older, shorter version of the file)."""
    engine = open_engine(site.readings_url)
    model = load_model(engine, active_model_version(engine, ROBOT))
    earlier = detect_events(model, landed.iloc[: len(landed) // 4])
    assert len(earlier) > 0
    replace_events(engine, NAME, earlier, model.version, "earlier-run", ROBOT)
    return read_events(engine, NAME)


def expected_events(site: DaemonSite, path: Path) -> pd.DataFrame:
    engine = open_engine(site.readings_url)
    model = load_model(engine, active_model_version(engine, ROBOT))
    events = detect_events(model, read_export(path))
    assert len(events) > 0
    return events


@contextmanager
def insert_of_events_held(site: DaemonSite) -> Iterator[int]:
    """Hold the active model's registry row, so an INSERT of events waits in its transaction.

    Yields the holding backend's pid.
    """
    engine = sa.create_engine(site.readings_url)
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT 1 FROM pm_model_registry WHERE is_active FOR UPDATE"))
        yield int(holder.execute(sa.text("SELECT pg_backend_pid()")).scalar() or 0)
        holder.rollback()
    engine.dispose()


def waiting_insert(site: DaemonSite, holder: int) -> bool:
    """True once a backend's INSERT INTO pm_events waits for the holder's lock."""
    # A fresh connection each time: pg_stat_activity is a snapshot per transaction.
    with sa.create_engine(site.readings_url, poolclass=sa.NullPool).connect() as connection:
        return bool(
            connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE query ILIKE 'INSERT INTO pm_events%' "
                    "AND CAST(:holder AS integer) = ANY(pg_blocking_pids(pid))"
                ),
                {"holder": holder},
            ).scalar()
        )


def state_after_the_kill(site: DaemonSite) -> tuple[pd.DataFrame, int]:
    """Events of NAME and stored readings, once the killed run's backend has ended.

    The source's advisory lock is free only when the killed run's transaction is gone. Taken
    here, it also keeps the retry from writing before we look.
    """
    engine = sa.create_engine(site.readings_url)
    with engine.connect() as connection:
        connection.execute(sa.text("SET lock_timeout = '30s'"))
        connection.execute(
            sa.text("SELECT pg_advisory_lock(:key)"), {"key": source_lock_key(ROBOT, NAME)}
        )
        events = pd.read_sql(
            sa.text("SELECT * FROM pm_events WHERE source = :source ORDER BY event_id"),
            connection,
            params={"source": NAME},
        )
        rows = connection.execute(sa.text("SELECT count(*) FROM pm_readings")).scalar()
        connection.execute(
            sa.text("SELECT pg_advisory_unlock(:key)"), {"key": source_lock_key(ROBOT, NAME)}
        )
        connection.commit()
    engine.dispose()
    return events, int(rows or 0)


def scoring_runs(site: DaemonSite) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        return list(reversed(instance.get_runs(filters=dg.RunsFilter(job_name="landed_files_job"))))


def worker_pid(site: DaemonSite, run_id: str) -> int:
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        for record in instance.all_logs(run_id):
            found = WORKER_PID.search(record.message or "")
            if found:
                return int(found.group(1))
    raise AssertionError(f"no worker pid logged for run {run_id}")


def land_and_catch_mid_write(
    site: DaemonSite, landed: pd.DataFrame, holder: int
) -> tuple[Path, dg.DagsterRun]:
    path = site.drop / NAME
    write_export(landed, path)
    wait_for(
        lambda: waiting_insert(site, holder),
        180,
        "the scoring run to reach its INSERT of events",
        site.daemon_log,
    )
    [run] = scoring_runs(site)
    assert run.status == dg.DagsterRunStatus.STARTED
    return path, run


def check_scored_once(
    site: DaemonSite, path: Path, sha256: str, expected: pd.DataFrame, stored_rows: int
) -> None:
    archived = site.drop / "archive" / f"line.{sha256[:12]}.csv"
    wait_for(
        lambda: (
            archived.exists()
            and [r.status for r in scoring_runs(site)][-1:] == [dg.DagsterRunStatus.SUCCESS]
        ),
        150,
        "Dagster's retry to score and archive the file",
        lambda: f"{[(r.run_id, r.status) for r in scoring_runs(site)]}\n{site.daemon_log()}",
    )
    assert not path.exists()
    assert [p.name for p in (site.drop / "archive").iterdir()] == [archived.name]
    runs = scoring_runs(site)
    # Usually one retry; on a loaded machine a retry can outlast its max runtime and be
    # retried in turn. Each later run replaces the one before: Dagster's retry of it, or the
    # sensor's rerun when Dagster's retry daemon missed the failure (see sensors.py).
    statuses = [r.status for r in runs]
    assert statuses == [dg.DagsterRunStatus.FAILURE] * (len(runs) - 1) + [
        dg.DagsterRunStatus.SUCCESS
    ]
    assert 2 <= len(runs) <= 3
    replaced = [r.parent_run_id or r.tags.get(RERUN_OF_TAG) for r in runs[1:]]
    assert replaced == [r.run_id for r in runs[:-1]]
    events = read_events(open_engine(site.readings_url), NAME)
    assert events["run_id"].unique().tolist() == [runs[-1].run_id]
    assert sorted(zip(events["axis"], events["start_ts"], strict=True)) == sorted(
        zip(expected["axis"], expected["start"], strict=True)
    )
    with sa.create_engine(site.readings_url).connect() as connection:
        rows, distinct = connection.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT (robot_id, timestamp_recorded)) FROM pm_readings"
            )
        ).one()
    assert rows == distinct == stored_rows


def test_killed_run_worker_leaves_nothing_half_written_and_is_retried(
    tmp_path: Path,
    postgres_schema_url: Callable[[], str],
    readings: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The run's worker dies (OOM killer, kill -9); the daemon lives. Dagster on Postgres."""
    site = DaemonSite(tmp_path, postgres_schema_url(), dagster_pg_url=postgres_schema_url())
    monkeypatch.setenv("DAGSTER_PG_URL", site.dagster_pg_url or "")
    site.prepare()  # the repo's dagster.yaml, as deployed
    try:
        trained_site(site, readings)
        landed = worn_slice(readings, after_hours=HISTORY_HOURS)
        before = scored_before(site, landed)
        site.start_daemon()
        with insert_of_events_held(site) as holder:
            path, run = land_and_catch_mid_write(site, landed, holder)
            sha256, expected = file_sha256(path), expected_events(site, path)
            killed = kill_tree(worker_pid(site, run.run_id))
            assert len(killed) >= 2, killed  # the run worker and its step process
        events, rows = state_after_the_kill(site)
        # The killed transaction had deleted the earlier events: they are all still there.
        assert events["event_id"].tolist() == before["event_id"].tolist()
        assert set(events["run_id"]) == {"earlier-run"}
        # The file's readings were written in that transaction too: none of them is stored.
        assert rows == len(readings) - len(landed)
        assert path.exists()  # not archived: the run never finished
        check_scored_once(site, path, sha256, expected, stored_rows=len(readings))
    finally:
        site.stop_all()


def test_killed_daemon_and_run_leave_nothing_half_written_and_the_file_is_scored(
    tmp_path: Path,
    postgres_url: str,
    readings: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kill -9 of the daemon's process group (daemon, code server, run worker) mid-write, then a
    restart. Dagster on SQLite with the settings the local commands write.

    The scoring run's max runtime stays at its default (600 s), longer than this test waits:
    the restarted daemon's run monitoring finds the run's worker gone (the project's run
    launcher checks its pid) at its next poll, 10 s, and run_retries scores the file again."""
    monkeypatch.setenv("PM_SCORING_MAX_RUNTIME_SECONDS", "600")
    site = DaemonSite(tmp_path, postgres_url)
    site.prepare()
    use_local_instance_settings(site)
    try:
        trained_site(site, readings)
        landed = worn_slice(readings, after_hours=HISTORY_HOURS)
        before = scored_before(site, landed)
        daemon = site.start_daemon()
        with insert_of_events_held(site) as holder:
            path, _run = land_and_catch_mid_write(site, landed, holder)
            sha256, expected = file_sha256(path), expected_events(site, path)
            killed = kill_tree(daemon.pid)
            assert len(killed) >= 4, killed  # daemon, code server, run worker, step process
            daemon.wait(timeout=10)
        events, _ = state_after_the_kill(site)
        assert events["event_id"].tolist() == before["event_id"].tolist()
        # On a loaded machine the run may have outlasted its max runtime once already, and
        # been retried before the kill: the newest run is the one the kill left behind.
        stuck = scoring_runs(site)[-1]
        assert stuck.status == dg.DagsterRunStatus.STARTED  # nobody is left to say otherwise
        assert path.exists()

        site.start_daemon()  # run monitoring fails the run once it finds its worker gone
        # check_scored_once waits 150 s at most, a quarter of the max runtime: the dead
        # worker must be found, not waited out.
        check_scored_once(site, path, sha256, expected, stored_rows=len(readings))
    finally:
        site.stop_all()
