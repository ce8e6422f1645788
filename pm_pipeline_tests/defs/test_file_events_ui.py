"""What the UI shows of a scored file: its events as a table, per-file checks, and a link
from the model version to the materialization that produced it."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.events import read_events
from pm_pipeline.defs.assets import TRAINING_ASSETS, file_events
from pm_pipeline.defs.event_metadata import ALERT_CHECK, ERROR_CHECK
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.defs.test_materialize import latest, score_landed
from pm_pipeline_tests.partitioned import ROBOT, materialize_robot

pytestmark = pytest.mark.usefixtures("plumbing_mode")  # any detector will do


def checks_of(result: dg.ExecuteInProcessResult) -> dict[str, tuple[bool, str]]:
    return {
        evaluation.check_name: (evaluation.passed, evaluation.severity.value)
        for evaluation in result.get_asset_check_evaluations()
    }


def test_a_faulty_file_shows_its_events_and_fails_its_error_check(
    tmp_path: Path, database: ReadingsDatabaseResource, robot_day: pd.DataFrame
) -> None:
    landed = tmp_path / "worn.csv"
    worn = worn_slice(robot_day, after_hours=6)
    write_export(worn, landed)
    with dg.instance_for_test() as instance:
        assert materialize_robot(
            TRAINING_ASSETS, resources=pipeline_resources(database), instance=instance
        ).success
        scored = score_landed(database, instance, landed)
        assert scored.success
        metadata = latest(instance, file_events.key).metadata
    stored = read_events(database.engine(), "worn.csv", ROBOT)
    assert "ERROR" in set(stored["severity"])
    assert metadata["dagster/row_count"].value == len(stored)
    assert metadata["readings_in_file"].value == len(worn)
    table = metadata["event_table"]
    assert isinstance(table, dg.TableMetadataValue)
    rows = [record.data for record in table.records]
    assert [row["event_id"] for row in rows] == stored["event_id"].tolist()
    first = rows[0]
    assert set(first) == {
        "event_id",
        "axis",
        "severity",
        "status",
        "start",
        "end",
        "peak_z",
        "channels",
        "model_version",
    }
    assert first["axis"] == "axis_2" and first["status"] in ("open", "resolved")
    assert str(first["channels"]).startswith("axis_2 ")  # an event's axis is its top contributor
    assert first["start"] == stored["start_ts"].iloc[0].strftime("%Y-%m-%dT%H:%M:%SZ")
    version = metadata["model_version"].value
    link = metadata["model_version_link"]
    assert isinstance(link, dg.UrlMetadataValue)
    assert (link.url or "").startswith(
        "http://127.0.0.1:3000/assets/axis_models/axis_1?view=events&time="
    )
    assert first["model_version"] == version
    checks = checks_of(scored)
    assert checks[ERROR_CHECK] == (False, "ERROR")
    assert checks[ALERT_CHECK][1] == "WARN"


def test_a_clean_file_passes_both_checks(
    tmp_path: Path, database: ReadingsDatabaseResource, robot_day: pd.DataFrame
) -> None:
    clean = robot_day[
        robot_day[TIME_COLUMN] >= robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=6)
    ]
    landed = tmp_path / "clean.csv"
    write_export(clean, landed)
    with dg.instance_for_test() as instance:
        assert materialize_robot(
            TRAINING_ASSETS, resources=pipeline_resources(database), instance=instance
        ).success
        scored = score_landed(database, instance, landed)
        assert scored.success
        metadata = latest(instance, file_events.key).metadata
    assert read_events(database.engine(), "clean.csv").empty
    assert metadata["dagster/row_count"].value == 0
    assert checks_of(scored) == {ERROR_CHECK: (True, "ERROR"), ALERT_CHECK: (True, "WARN")}
