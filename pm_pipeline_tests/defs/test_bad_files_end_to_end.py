"""Every bad export of the bad-input table, dropped beside a good one: the sensor's tick and
the runs it starts go through, each bad file ends in quarantine with its reason, the good one
is scored, and no bad file leaves a reading or an event behind."""

import os
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pm_pipeline.core.schema import TIME_COLUMN, is_synthetic_source
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.events import read_events
from pm_pipeline.db.readings import readings_span
from pm_pipeline.defs.assets import TRAINING_ASSETS
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.core.test_bad_inputs import ERRORS, write
from pm_pipeline_tests.defs.test_sensor import scored_files
from pm_pipeline_tests.defs.test_sensor import tick as sensor_tick
from pm_pipeline_tests.partitioned import (
    ROBOT,
    latest_file_metadata,
    materialize_robot,
    run_sensor_request,
)

pytestmark = pytest.mark.usefixtures("plumbing_mode")  # any detector will do


def land(folder: Path, name: str, content: str | bytes) -> None:
    then = time.time() - 60
    os.utime(write(folder, name, content), (then, then))


def test_bad_files_never_stop_the_sensor_nor_leave_rows(
    tmp_path: Path,
    drop: Path,
    monkeypatch: pytest.MonkeyPatch,
    database,
    robot_day: pd.DataFrame,
) -> None:
    monkeypatch.setenv("PM_MAX_FILES_PER_TICK", "50")
    for case, (content, _) in ERRORS.items():
        land(drop, f"{case}.csv", content)
    good = worn_slice(robot_day, after_hours=6)
    write_export(good, drop / "good.csv")
    engine = database.engine()
    rows_before = readings_span(engine, database.table(), ROBOT)[0]
    with dg.instance_for_test() as instance:
        assert materialize_robot(
            TRAINING_ASSETS, resources=pipeline_resources(database), instance=instance
        ).success
        tick = sensor_tick(instance)
        assert isinstance(tick, dg.SensorResult)
        requests = [r for r in tick.run_requests or [] if isinstance(r, dg.RunRequest)]
        resources = pipeline_resources(database)
        # The ready files score in one run, which a bad file does not fail.
        [request] = requests
        assert run_sensor_request(instance, tick, request, resources).success
        good_metadata = latest_file_metadata(instance, "good.csv")
        assert good_metadata["events"] > 0
        in_run = [file for _, file in scored_files(request)]
        bad_files = [name for name in in_run if name != "good.csv"]
        assert bad_files  # some bad files have a readable header: only scoring finds them
        for name in bad_files:  # row-level problems are found, and named, in the run
            assert "quarantine" in latest_file_metadata(instance, name)["outcome"]
    quarantined = {p.name for p in (drop / "quarantine").glob("*.csv")}
    assert quarantined == {f"{case}.csv" for case in ERRORS}
    for case, (_, message) in ERRORS.items():
        reason = (drop / "quarantine" / f"{case}.csv.reason.txt").read_text()
        assert message in reason, (case, reason)
    assert [p.name for p in drop.glob("*.csv")] == []  # nothing left waiting
    assert len(list((drop / "archive").glob("good.*.csv"))) == 1
    events = read_events(engine)
    assert {s for s in events["source"] if not is_synthetic_source(s)} == {"good.csv"}
    assert "axis_2" in set(events["axis"])
    span = readings_span(engine, database.table(), ROBOT)
    assert span[0] == rows_before + len(good)
    assert span[2] == good[TIME_COLUMN].max()
