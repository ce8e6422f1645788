"""No local disk between steps: a step on another host (another Dagster home, another working
folder) loads what an earlier step stored, from the database alone."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.registry import newest_model_version
from pm_pipeline.defs.assets import TRAINING_ASSETS
from pm_pipeline.defs.assets.training import THRESHOLD_KEYS
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline_tests.partitioned import ROBOT, materialize_robot

pytestmark = pytest.mark.usefixtures("plumbing_mode")  # any detector will do


def test_thresholds_on_another_host_load_the_models_an_earlier_run_stored(
    postgres_url: str, robot_day: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = ReadingsDatabaseResource(url=postgres_url)
    history = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=6)
    ]
    ingest_readings(database.engine(), database.table(), history, ROBOT, "h", "h")
    upstream = TRAINING_ASSETS[:3]  # raw_readings, minmax_scaler, axis_models
    first_host, second_host = tmp_path / "host-a", tmp_path / "host-b"
    for host in (first_host, second_host):
        host.mkdir()
        monkeypatch.chdir(host)
        with dg.instance_for_test(temp_dir=str(host)) as instance:
            if host == first_host:
                result = materialize_robot(
                    upstream, resources=pipeline_resources(database), instance=instance
                )
            else:  # nothing of the first host's home or folder is reachable from here
                result = materialize_robot(
                    [*upstream, TRAINING_ASSETS[3]],
                    selection=list(THRESHOLD_KEYS.values()),
                    resources=pipeline_resources(database),
                    instance=instance,
                )
            assert result.success
    assert newest_model_version(database.engine(), ROBOT) is not None
    stored_on_disk = [
        path for path in tmp_path.rglob("*") if path.is_file() and path.parent.name == "storage"
    ]
    assert stored_on_disk == []  # FilesystemIOManager would have written storage/<asset>
