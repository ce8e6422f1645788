"""The drop folder when files and folders misbehave: a file still being written, a file
deleted while it is scored, symlinked finished folders. The sensor's ticks and the runs they
ask for go in-process, on real files."""

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.db.event_lifecycle import ROBOT_EVENTS
from pm_pipeline.db.events import read_events, source_lock_key
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.readings import readings_span
from pm_pipeline.defs.assets import TRAINING_ASSETS
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline.services.drop_folders import check_finished_folders
from pm_pipeline.services.landing import archive_file, quarantine_file
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.defs.test_sensor import export_text, land, one_tick, requests, tick
from pm_pipeline_tests.partitioned import ROBOT, materialize_robot, run_sensor_request

pytestmark = pytest.mark.usefixtures("plumbing_mode")  # any detector will do

BATCHES = 12
GAP_S = 0.45
SETTLE_S = "0.3"
HISTORY = pd.Timedelta(hours=6)


@pytest.fixture
def trained(database: ReadingsDatabaseResource) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        assert materialize_robot(
            TRAINING_ASSETS, resources=pipeline_resources(database), instance=instance
        ).success
        yield instance


class AppendingWriter(threading.Thread):
    """A controller that writes its export in batches of whole lines, a pause after each
    longer than the settle time would allow, into the drop folder itself."""

    def __init__(self, source: Path, target: Path) -> None:
        super().__init__(daemon=True)
        lines = source.read_bytes().splitlines(keepends=True)
        header, body = lines[0], lines[1:]
        size = -(-len(body) // BATCHES)
        self.batches = [header + b"".join(body[:size])] + [
            b"".join(body[start : start + size]) for start in range(size, len(body), size)
        ]
        self.target = target

    def run(self) -> None:
        with self.target.open("ab") as handle:  # held open, as a controller holds its export
            for batch in self.batches:
                handle.write(batch)
                handle.flush()
                time.sleep(GAP_S)


def tick_and_run(
    instance: dg.DagsterInstance, database: ReadingsDatabaseResource, cursor: str | None
) -> tuple[str | None, int]:
    """One sensor tick and the runs it asks for; the next cursor and the number of runs."""
    result = one_tick(instance, cursor)
    asked = requests(result)
    for request in asked:
        run_sensor_request(instance, result, request, pipeline_resources(database))
    return result.cursor, len(asked)


def test_a_file_still_being_written_is_scored_whole_and_never_archived_half(
    tmp_path: Path,
    drop: Path,
    monkeypatch: pytest.MonkeyPatch,
    database: ReadingsDatabaseResource,
    trained: dg.DagsterInstance,
    robot_day: pd.DataFrame,
) -> None:
    monkeypatch.setenv("PM_SETTLE_SECONDS", SETTLE_S)
    landed = worn_slice(robot_day, after_hours=6)
    write_export(landed, tmp_path / "whole.csv")
    engine, table = database.engine(), database.table()
    rows_before = readings_span(engine, table, ROBOT)[0]
    writer = AppendingWriter(tmp_path / "whole.csv", drop / "line.csv")
    writer.start()
    cursor, quiet, runs = None, 0, 0
    # Tick as fast as the sensor can until the writer is done and the folder has been quiet
    # for a few settle times (a tick may hit the moment between two batches).
    while quiet < 8:
        cursor, asked = tick_and_run(trained, database, cursor)
        runs += asked
        busy = writer.is_alive() or asked or list(drop.glob("*.csv"))
        quiet = 0 if busy else quiet + 1
        time.sleep(0.05)
    assert runs >= 1
    assert not (drop / "quarantine").exists()
    archived = sorted((drop / "archive").iterdir())
    for copy in archived:  # each archived name carries the hash of the bytes it holds
        assert copy.stem.endswith(file_sha256(copy)[:12]), copy.name
    assert archived[-1].read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert readings_span(engine, table, ROBOT)[0] == rows_before + len(landed)


@pytest.mark.parametrize("folder", ["archive", "quarantine"])
def test_a_symlinked_finished_folder_is_refused_before_any_file_moves(
    tmp_path: Path, drop: Path, folder: str
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (drop / folder).symlink_to(outside)
    good = land(drop, "good.csv", export_text(0))
    bad = land(drop, "bad.csv", "nothing,useful\n1,2\n")
    with dg.instance_for_test() as instance, pytest.raises(PipelineError) as refused:
        tick(instance)
    assert f"{drop / folder} is a symlink" in str(refused.value)
    assert "replace it with a real folder" in str(refused.value)
    with pytest.raises(PipelineError, match="is a symlink"):  # a run's move is refused too
        if folder == "archive":
            archive_file(good, file_sha256(good))
        else:
            quarantine_file(bad, "bad header")
    assert good.exists() and bad.exists() and list(outside.iterdir()) == []


def test_a_robots_symlinked_archive_is_refused_too(tmp_path: Path, drop: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (drop / "robot-2").mkdir()
    (drop / "robot-2" / "archive").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PipelineError, match="robot-2/archive is a symlink"):
        check_finished_folders(drop)


def events_lock_waited_for(url: str, key: int) -> bool:
    """Whether a backend waits for the advisory lock ``key``: only that one, since the
    server's other tests (other workers, other schemas) take and wait for advisory locks of
    their own. Postgres shows a bigint key as its high and low 32 bits, ``objsubid`` 1."""
    with sa.create_engine(url, poolclass=sa.NullPool).connect() as connection:
        return bool(
            connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND classid = :high AND objid = :low AND objsubid = 1"
                ),
                {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
            ).scalar()
        )


class DeleterWhileEventsWait(threading.Thread):
    """Holds the robot's events lock, so a run waits after its readings are stored and
    before its events are; deletes the landed file then, and lets the run go on."""

    def __init__(self, url: str, path: Path) -> None:
        super().__init__(daemon=True)
        self.url, self.path, self.deleted = url, path, False
        self.holding = threading.Event()

    def run(self) -> None:
        engine = sa.create_engine(self.url, poolclass=sa.NullPool)
        key = source_lock_key(ROBOT, ROBOT_EVENTS)
        with engine.connect() as holder:
            holder.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            self.holding.set()
            try:
                wait_for(lambda: events_lock_waited_for(self.url, key), 60, "the run to wait")
                self.path.unlink()
                self.deleted = True
            finally:
                holder.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                holder.commit()


def test_a_file_deleted_while_it_is_scored_finishes_the_run_with_a_warning(
    tmp_path: Path, drop: Path, postgres_url: str, robot_day: pd.DataFrame
) -> None:
    database = ReadingsDatabaseResource(url=postgres_url)
    engine, table = database.engine(), database.table()
    history = robot_day[robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + HISTORY]
    ingest_readings(engine, table, history, ROBOT, "h", "h")
    landed = worn_slice(robot_day, after_hours=6)
    path = drop / "line.csv"
    write_export(landed, path)
    os.utime(path, (time.time() - 60, time.time() - 60))
    with dg.instance_for_test() as instance:
        resources = pipeline_resources(database)
        assert materialize_robot(TRAINING_ASSETS, resources=resources, instance=instance).success
        result = tick(instance)
        [request] = requests(result)
        deleter = DeleterWhileEventsWait(postgres_url, path)
        deleter.start()
        deleter.holding.wait(30)
        run = run_sensor_request(instance, result, request, resources)
        deleter.join(60)
        assert deleter.deleted
        assert run.success  # the data is in: the file's absence is no failure
        warnings = [
            entry.message
            for entry in instance.all_logs(run.run_id)
            if entry.level == logging.WARNING and "is gone" in entry.message
        ]
        assert len(warnings) == 1 and "readings and events are stored" in warnings[0]
        assert requests(tick(instance)) == []  # nothing left to score again
    assert readings_span(engine, table, ROBOT)[0] == len(history) + len(landed)
    assert len(read_events(engine, "line.csv", ROBOT)) == len(
        read_events(engine, "line.csv", ROBOT).drop_duplicates(["axis", "start_ts"])
    )
