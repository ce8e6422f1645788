"""Two runs of `landed_files_job` on the same landed file: at the same time (a re-execution from the
UI while the sensor's run is going), or one after the other (a re-execution of a finished
run). Readings on the real Postgres server; each file is scored into exactly one set of events.
"""

import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster._core.instance.ref import InstanceRef

from pm_pipeline.core.detection.registry import detect_events
from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.db.events import read_events
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.registry import active_model_version, load_model
from pm_pipeline.defs.assets import TRAINING_ASSETS
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.partitioned import ROBOT, materialize_robot, score_files

pytestmark = pytest.mark.usefixtures("plumbing_mode")  # any detector will do

NAME = "landed.csv"


def resources_for(url: str) -> dict:
    return pipeline_resources(ReadingsDatabaseResource(url=url))


def score(instance: dg.DagsterInstance, resources: dict) -> dg.ExecuteInProcessResult:
    """What the sensor's run request does: score the landed file, then archive it."""
    return score_files(instance, [Path(os.environ["PM_DROP_DIR"]) / NAME], resources, archive=True)


@dataclass
class Scoring:
    instance: dg.DagsterInstance
    url: str
    drop: Path
    expected: pd.DataFrame
    sha256: str
    readings: int

    @property
    def database(self) -> ReadingsDatabaseResource:
        return ReadingsDatabaseResource(url=self.url)

    def run(self) -> dg.ExecuteInProcessResult:
        return score(self.instance, resources_for(self.url))


@pytest.fixture
def scoring(
    tmp_path: Path, postgres_url: str, robot_day: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Scoring]:
    drop = tmp_path / "incoming"
    drop.mkdir()
    monkeypatch.setenv("PM_DROP_DIR", str(drop))
    database = ReadingsDatabaseResource(url=postgres_url)
    split = robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=6)
    history = robot_day[robot_day[TIME_COLUMN] < split]
    ingest_readings(database.engine(), database.table(), history, ROBOT, "h", "h")
    write_export(worn_slice(robot_day, after_hours=6), drop / NAME)
    with dg.instance_for_test() as instance:
        trained = materialize_robot(
            TRAINING_ASSETS, resources=resources_for(postgres_url), instance=instance
        )
        assert trained.success
        engine = database.engine()
        model = load_model(engine, active_model_version(engine, ROBOT))
        expected = detect_events(model, read_export(drop / NAME))
        assert len(expected) > 0
        yield Scoring(
            instance,
            postgres_url,
            drop,
            expected,
            file_sha256(drop / NAME),
            len(robot_day),
        )


def assert_scored_once(scoring: Scoring, run_ids: list[str]) -> pd.DataFrame:
    events = read_events(scoring.database.engine(), NAME)
    assert events["run_id"].nunique() == 1 and events["run_id"].iloc[0] in run_ids
    assert sorted(zip(events["axis"], events["severity"], events["start_ts"], strict=True)) == (
        sorted(
            zip(
                scoring.expected["axis"],
                scoring.expected["severity"],
                scoring.expected["start"],
                strict=True,
            )
        )
    )
    with scoring.database.engine().connect() as connection:
        rows, distinct = connection.execute(
            sa.text(
                "SELECT count(*), count(DISTINCT (robot_id, timestamp_recorded)) FROM pm_readings"
            )
        ).one()
    assert rows == distinct == scoring.readings
    archived = scoring.drop / "archive" / f"landed.{scoring.sha256[:12]}.csv"
    assert not (scoring.drop / NAME).exists()
    assert [p.name for p in (scoring.drop / "archive").iterdir()] == [archived.name]
    return events


def score_in_own_process(
    instance_ref: InstanceRef, url: str, start: BarrierType, out: Queue
) -> None:
    """One run: its own process, as Dagster runs each run. (Two in-process runs in threads of
    one process deadlock in Dagster's logging set-up.)"""
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        start.wait(timeout=60)
        result = score(instance, resources_for(url))
        failures = [event.message for event in result.all_events if event.is_failure]
        out.put((result.success, result.run_id, failures))


def test_two_runs_at_once_score_the_file_once(scoring: Scoring) -> None:
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(2), context.Queue()
    args = (scoring.instance.get_ref(), scoring.url, start, out)
    workers = [context.Process(target=score_in_own_process, args=args) for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=180) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    assert [success for success, _, _ in results] == [True, True], results
    assert_scored_once(scoring, [run_id for _, run_id, _ in results])


def test_rerun_of_a_scored_file_rescores_its_archived_copy(scoring: Scoring) -> None:
    first = scoring.run()
    assert first.success
    assert_scored_once(scoring, [first.run_id])

    again = scoring.run()  # the landed file is in archive/ now

    assert again.success
    assert_scored_once(scoring, [again.run_id])
    materialization = again.asset_materializations_for_node("score_landed_files")[0]
    archived = scoring.drop / "archive" / f"landed.{scoring.sha256[:12]}.csv"
    assert materialization.metadata["file"].value == str(archived)
    assert materialization.metadata["rows_added"].value == 0
