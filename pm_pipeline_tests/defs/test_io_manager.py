"""No local disk between steps: a step on another host (another working folder, the same
Dagster storage, as every host of a deployment shares it) loads what an earlier step stored,
from the database and Dagster's event log alone."""

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


def test_thresholds_on_another_host_load_the_model_an_earlier_run_registered(
    postgres_url: str, robot_day: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = ReadingsDatabaseResource(url=postgres_url)
    history = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=6)
    ]
    ingest_readings(database.engine(), database.table(), history, ROBOT, "h", "h")
    upstream = TRAINING_ASSETS[:3]  # raw_readings, minmax_scaler, axis_models
    first_host, second_host = tmp_path / "host-a", tmp_path / "host-b"
    shared_storage = tmp_path / "dagster"  # Postgres through DAGSTER_PG_URL in a deployment
    shared_storage.mkdir()
    with dg.instance_for_test(temp_dir=str(shared_storage)) as instance:
        for host in (first_host, second_host):
            host.mkdir()
            monkeypatch.chdir(host)
            if host == first_host:
                result = materialize_robot(
                    upstream, resources=pipeline_resources(database), instance=instance
                )
            else:  # nothing of the first host's folder is reachable from here
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
