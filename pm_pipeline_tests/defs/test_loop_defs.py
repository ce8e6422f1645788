"""The loop's Dagster side: a tick that quarantines says so, checks show the robot's open
events, a new baseline with enough readings starts a retraining, and a label can be given
from a run's config."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.events import read_event, read_events, replace_events
from pm_pipeline.db.feedback import read_labels
from pm_pipeline.db.readings import read_readings
from pm_pipeline.db.registry import activate_model, list_models, register_model
from pm_pipeline.defs.assets.fleet import event_labels, label_event_job
from pm_pipeline.defs.assets.training import raw_readings
from pm_pipeline.defs.baseline_sensor import baseline_retraining_sensor
from pm_pipeline.defs.event_metadata import ALERT_CHECK, ERROR_CHECK, event_check_results
from pm_pipeline.defs.execution import add_robot
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.defs.sensors import landed_file_sensor
from pm_pipeline.services.feedback import baseline_state, label_event, record_maintenance
from pm_pipeline_tests.cli.test_events_command import event
from pm_pipeline_tests.defs.test_retraining import train
from pm_pipeline_tests.defs.test_sensor import HEADER, land
from pm_pipeline_tests.partitioned import ROBOT


def test_a_tick_that_only_quarantines_says_so(drop: Path) -> None:
    land(drop, "empty.csv", "")
    land(drop, "header.csv", HEADER)
    with dg.instance_for_test() as instance:
        # A file is judged once two looks agree: the first tick only looks.
        settings = {"settings": SettingsResource()}
        first = landed_file_sensor(dg.build_sensor_context(instance=instance, resources=settings))
        assert isinstance(first, dg.SensorResult)
        result = landed_file_sensor(
            dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=settings)
        )
    assert isinstance(result, dg.SensorResult) and not result.run_requests
    assert result.skip_reason is not None
    message = result.skip_reason.skip_message or ""
    assert message.startswith("quarantined 2: ")
    assert "empty.csv: " in message and "header.csv: " in message


def test_a_clean_file_does_not_pass_while_the_robot_has_an_open_alert() -> None:
    clean = pd.DataFrame({"severity": pd.Series([], dtype=str)})
    still_open = pd.DataFrame({"event_id": [7], "severity": ["ALERT"]})
    verdicts = {c.check_name: c for c in event_check_results(clean, still_open)}
    assert verdicts[ERROR_CHECK].passed
    assert not verdicts[ALERT_CHECK].passed
    assert verdicts[ALERT_CHECK].description == "the robot has 1 open ALERT event(s): 7"
    assert verdicts[ALERT_CHECK].metadata["alert_events"] == dg.IntMetadataValue(0)
    assert all(c.passed for c in event_check_results(clean, still_open.iloc[0:0]))


@pytest.fixture
def labelled(database: ReadingsDatabaseResource) -> int:
    """The robot's model active, and one landed ALERT an hour into its readings."""
    engine, table = database.engine(), database.table()
    readings = read_readings(engine, table, ROBOT)
    model = fit_model(readings, fit_minmax_scaling(readings), SeedSettings())
    register_model(engine, model, ROBOT, None, {})
    activate_model(engine, model.version, ROBOT, "test")
    start = readings[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=1)
    found = pd.DataFrame([event("axis_2", "ALERT", start, 5)])
    replace_events(engine, "landed.csv", found, model.version, None, ROBOT)
    return int(read_events(engine, "landed.csv", ROBOT)["event_id"].iloc[0])


def test_a_new_normal_with_enough_readings_starts_one_retraining(
    database: ReadingsDatabaseResource, labelled: int
) -> None:
    with dg.instance_for_test() as instance:
        add_robot(instance, ROBOT)
        resources = {"readings_db": database, "settings": SettingsResource()}
        context = dg.build_sensor_context(instance=instance, resources=resources)
        idle = baseline_retraining_sensor(context)
        assert isinstance(idle, dg.SensorResult) and not idle.run_requests
        label_event(database.engine(), labelled, "new-normal", "test")
        due = baseline_retraining_sensor(context)
    assert isinstance(due, dg.SensorResult)
    [request] = due.run_requests or []
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == ROBOT
    assert request.run_key and request.run_key.startswith(f"baseline:{ROBOT}:")


def test_label_event_job_stores_a_label_from_its_config(
    database: ReadingsDatabaseResource, labelled: int
) -> None:
    config = {"event_id": labelled, "label": "false-alarm", "note": "door", "by": "ann"}
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [event_labels],
            instance=instance,
            resources=pipeline_resources(database),
            run_config={"ops": {"event_labels": {"config": config}}},
        )
    assert result.success
    labels = read_labels(database.engine(), ROBOT)
    assert list(labels[["event_id", "label", "labelled_by", "note"]].itertuples(index=False)) == [
        (labelled, "false-alarm", "ann", "door")
    ]
    # What it judged, kept with it, and shown with the recent labels in the UI.
    judged = read_event(database.engine(), labelled)
    [kept] = labels[["model_version", "severity"]].itertuples(index=False)
    assert tuple(kept) == (judged["model_version"], judged["severity"])
    [materialization] = result.asset_materializations_for_node("event_labels")
    shown = str(materialization.metadata["recent_labels"].value)
    assert f"| {judged['severity']} " in shown and f"| {judged['model_version']} " in shown
    assert label_event_job.name == "label_event_job"


def test_the_model_after_maintenance_trains_on_later_readings_only(
    database: ReadingsDatabaseResource, labelled: int
) -> None:
    engine = database.engine()
    times = read_readings(engine, database.table(), ROBOT)[TIME_COLUMN]
    at = times.iloc[0] + pd.Timedelta(hours=3)
    assert record_maintenance(engine, ROBOT, at, "ann", "gearbox") == [labelled]
    with dg.instance_for_test() as instance:
        trained = train(database, instance)
        assert trained.success
        raw = instance.get_latest_materialization_event(raw_readings.key)
    [model] = [entry for entry in list_models(engine, ROBOT) if entry.is_active]
    assert model.window_start == times[times >= at].iloc[0]
    assert model.window_end == times.iloc[-1]
    assert model.row_count == int((times >= at).sum())
    assert raw is not None and raw.asset_materialization is not None
    baseline = raw.asset_materialization.metadata["baseline"].value
    assert str(baseline).endswith("(maintenance: gearbox)")
    assert not baseline_state(engine, database.table(), ROBOT).awaiting
