"""The whole asset graph on a temporary SQLite database and a temporary Dagster instance."""

import hashlib
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.schema import TIME_COLUMN, synthetic_source
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.events import read_events
from pm_pipeline.db.readings import read_readings
from pm_pipeline.db.registry import list_models, newest_model_version
from pm_pipeline.db.schema import asset_values
from pm_pipeline.defs.assets import (
    TRAINING_ASSETS,
    file_events,
)
from pm_pipeline.defs.assets.training import AXIS_MODEL_KEYS, THRESHOLD_KEYS
from pm_pipeline.defs.assets.validation import (
    LANDED_FAULT_CHECK,
    RECALL_CHECK,
    synthetic_test_data,
)
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.partitions import landing_day, split_robot_day_key
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.partitioned import ROBOT, materialize_robot, score_files

DATA_VERSION = "dagster/data_version"


def score_landed(
    database: ReadingsDatabaseResource,
    instance: dg.DagsterInstance,
    path: Path,
    archive: bool = False,
) -> dg.ExecuteInProcessResult:
    """Score one landed file with ``landed_files_job``, the one scoring path."""
    return score_files(instance, [path], pipeline_resources(database), archive=archive)


def stored_values(engine: sa.Engine) -> set[str]:
    """The asset keys with a value in our database (what the IO manager stored)."""
    with engine.connect() as connection:
        return set(connection.execute(sa.select(asset_values.c.asset_key)).scalars())


def latest(instance: dg.DagsterInstance, key: dg.AssetKey) -> dg.AssetMaterialization:
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return event.asset_materialization


def test_whole_graph_trains_verifies_and_scores(
    tmp_path: Path, database: ReadingsDatabaseResource, robot_day: pd.DataFrame
) -> None:
    with dg.instance_for_test() as instance:
        trained = materialize_robot(
            TRAINING_ASSETS, resources=pipeline_resources(database), instance=instance
        )
        assert trained.success
        engine = database.engine()
        version = newest_model_version(engine, ROBOT)
        [entry] = list_models(engine, ROBOT)
        assert entry.run_id == trained.run_id and entry.is_active

        for axis, key in AXIS_MODEL_KEYS.items():
            model = latest(instance, key)
            assert model.tags is not None and model.tags[DATA_VERSION] == version
            for field in (
                "intercept",
                "residual_mu",
                "residual_sigma",
                "MinC",
                "MaxC",
                "sustain_s",
                "window_start",
                "window_end",
                "dagster/row_count",
                "scores",
                "fields_fitted",
            ):
                assert field in model.metadata, (axis, field)
            # The default mode (cusum) fits no line on time: no slope, R² or line plots;
            # its statistic is drawn against ALERT 1 and ERROR 2.
            assert not {"slope_per_s", "r2", "plot_training"} & set(model.metadata), axis
            statistic = str(model.metadata["plot_statistic"].value)
            assert "ALERT 1" in statistic and "ERROR 2" in statistic
            assert len(statistic) < 80_000
        for key in THRESHOLD_KEYS.values():
            thresholds = latest(instance, key)
            assert thresholds.tags is not None and thresholds.tags[DATA_VERSION] == version
        # The model is stored once, in the registry: the axis assets only report its version,
        # and Dagster's provenance of what loads it still records every axis's version. Of a
        # partitioned upstream it records the SHA-256 of the read partitions' versions joined
        # (dagster/_core/execution/context/data_version_cache.py), here of the one robot's.
        assert not stored_values(engine) & {k.to_user_string() for k in AXIS_MODEL_KEYS.values()}
        recorded_version = dg.DataVersion(hashlib.sha256(version.encode()).hexdigest())
        for key in [*THRESHOLD_KEYS.values(), synthetic_test_data.key]:
            provenance = dg.DataProvenance.from_tags(latest(instance, key).tags or {})
            assert provenance is not None
            recorded = {k: provenance.input_data_versions.get(k) for k in AXIS_MODEL_KEYS.values()}
            assert recorded == dict.fromkeys(AXIS_MODEL_KEYS.values(), recorded_version), key
        checks = {c.check_name: c.passed for c in trained.get_asset_check_evaluations()}
        assert checks == {
            RECALL_CHECK: True,
            "coefficients_finite": True,
            "enough_training_rows": True,
            LANDED_FAULT_CHECK: True,
        }
        synthetic = read_events(engine, synthetic_source(version))
        assert len(synthetic) > 0 and set(synthetic["run_id"]) == {trained.run_id}

        landed = tmp_path / "landed.csv"
        write_export(worn_slice(robot_day, after_hours=6), landed)
        scored = score_landed(database, instance, landed)
        assert scored.success
        events = read_events(engine, "landed.csv")
        assert len(events) > 0
        assert set(events["model_version"]) == {version}
        assert set(events["run_id"]) == {scored.run_id}
        materialization = latest(instance, file_events.key)
        assert materialization.metadata["model_version"].value == version
        assert materialization.metadata["events"].value == len(events)
        assert materialization.tags is not None
        provenance = {
            k: v
            for k, v in materialization.tags.items()
            if k.startswith("dagster/input_data_version/")
        }
        # The file's materialization names the thresholds it was scored with, as inputs.
        assert provenance[f"dagster/input_data_version/{THRESHOLD_KEYS['axis_1'].to_user_string()}"]
        robot, day = split_robot_day_key(str(materialization.partition))
        assert robot == ROBOT and day == landing_day(landed.stat().st_mtime)


@pytest.mark.usefixtures("plumbing_mode")  # any detector will do
def test_blocking_check_fails_when_error_runs_are_missed(
    tmp_path: Path, database: ReadingsDatabaseResource
) -> None:
    # Every step counted as a data gap: no run lasts the sustain time, so nothing is detected.
    config = {"ops": {"axis_models": {"config": {"gap_factor": 0.5}}}}
    with dg.instance_for_test() as instance:
        result = materialize_robot(
            TRAINING_ASSETS,
            resources=pipeline_resources(database),
            instance=instance,
            run_config=config,
            raise_on_error=False,
        )
        [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == RECALL_CHECK]
        assert not check.passed
        assert check.metadata["recall_error_level"].value == 0.0
        assert not result.success
        [entry] = list_models(database.engine(), ROBOT)
        assert not entry.is_active  # a model that misses error-level runs is never promoted


@pytest.mark.usefixtures("plumbing_mode")  # any detector will do
def test_a_bad_landed_file_is_quarantined_by_its_run(
    tmp_path: Path, database: ReadingsDatabaseResource
) -> None:
    drop = tmp_path / "incoming"
    drop.mkdir()
    bad = drop / "bad.csv"
    bad.write_text(
        "time," + ",".join(f"axis_{i}" for i in range(1, 9)) + "\n"
        "2022-10-17T12:00:00Z,1,2,3,4,5,6,7,8\n2022-10-17T12:00:02Z,1,x,3,4,5,6,7,8\n"
    )
    with dg.instance_for_test() as instance:
        assert materialize_robot(
            TRAINING_ASSETS, resources=pipeline_resources(database), instance=instance
        ).success
        result = score_landed(database, instance, bad, archive=True)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    user_failure = failure.step_failure_data.user_failure_data
    assert user_failure is not None and user_failure.description is not None
    description = user_failure.description
    assert "line 3, column 'axis_2'" in description and "quarantine" in description
    assert not bad.exists()
    assert "line 3" in (drop / "quarantine" / "bad.csv.reason.txt").read_text()
    assert read_events(database.engine(), "bad.csv").empty


@pytest.mark.usefixtures("plumbing_mode")  # any detector will do
def test_database_outage_retries_then_fails_cleanly_and_a_rerun_adds_no_duplicates(
    tmp_path: Path, database: ReadingsDatabaseResource, robot_day: pd.DataFrame
) -> None:
    landed = tmp_path / "landed.csv"
    write_export(worn_slice(robot_day, after_hours=6), landed)
    unreachable = ReadingsDatabaseResource(url="postgresql://pm:secret@127.0.0.1:1/readings")
    with dg.instance_for_test() as instance:
        assert materialize_robot(
            TRAINING_ASSETS, resources=pipeline_resources(database), instance=instance
        ).success
        down = score_files(instance, [landed], pipeline_resources(unreachable))
        assert not down.success
        restarts = [e for e in down.all_events if e.event_type_value == "STEP_RESTARTED"]
        assert len(restarts) == 3  # the retry policy's three attempts, with backoff
        for _ in range(2):  # the database is back: a rerun, and a rerun of the rerun
            assert score_files(instance, [landed], pipeline_resources(database)).success
    engine = database.engine()
    events = read_events(engine, "landed.csv")
    assert len(events) > 0
    assert not events.duplicated(["axis", "severity", "start_ts"]).any()
    stored = read_readings(engine, database.table(), ROBOT)
    assert not stored[TIME_COLUMN].duplicated().any()
