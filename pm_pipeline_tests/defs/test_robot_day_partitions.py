"""Scoring output is partitioned by robot × day: a landed file is a materialization of the day
it landed on, never a partition of its own; an instance of the robot × file layout upgrades."""

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.events import read_events
from pm_pipeline.db.registry import activate_model, register_model
from pm_pipeline.defs.assets import file_events
from pm_pipeline.defs.event_metadata import ERROR_CHECK
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.legacy_partitions import upgrade_file_partitions
from pm_pipeline.defs.partitions import (
    LEGACY_FILE_PARTITIONS,
    ROBOTS,
    landing_day,
    robot_day_key,
    robot_days_partitions,
)
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.defs.test_sensor import tick
from pm_pipeline_tests.partitioned import score_files

pytestmark = pytest.mark.usefixtures("plumbing_mode")  # any detector will do

ROBOTS_OF_TEST = ("r1", "r2")
DAY_ONE, DAY_TWO = "2024-03-01", "2024-03-02"


@pytest.fixture
def scoring_db(database: ReadingsDatabaseResource, robot_day: pd.DataFrame):
    """Both robots with an active model fitted in-process (no training run: it is not tested)."""
    start = robot_day[TIME_COLUMN].iloc[0]
    train = robot_day[robot_day[TIME_COLUMN] < start + pd.Timedelta(hours=5)]
    model = fit_model(train, fit_minmax_scaling(train), settings_for_mode("robust"))
    engine = database.engine()
    for robot in ROBOTS_OF_TEST:
        register_model(engine, model, robot, "run-0", {})
        activate_model(engine, model.version, robot, "test")
    return database


def landed_on(day: str, path: Path) -> Path:
    """``path`` with its modification time at noon UTC of ``day``: when it landed."""
    noon = datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC).timestamp()
    os.utime(path, (noon, noon))
    return path


def files_of(folder: Path, readings: pd.DataFrame, names: list[str], day: str):
    """One file per name, each the next piece of ``readings``, for both robots."""
    pieces = [readings.iloc[i * 200 : (i + 1) * 200] for i in range(len(names))]
    landed = []
    for robot in ROBOTS_OF_TEST:
        (folder / robot).mkdir(parents=True, exist_ok=True)
        for name, piece in zip(names, pieces, strict=True):
            write_export(piece, folder / robot / name)
            landed.append((robot, landed_on(day, folder / robot / name)))
    return landed


def test_two_robots_files_of_a_day_are_a_partition_each_and_a_second_day_adds_one_each(
    tmp_path: Path, scoring_db: ReadingsDatabaseResource, robot_day: pd.DataFrame
) -> None:
    worn = worn_slice(robot_day, after_hours=6).reset_index(drop=True)
    resources = pipeline_resources(scoring_db)
    with dg.instance_for_test() as instance:
        first = files_of(tmp_path, worn, ["a.csv", "b.csv"], DAY_ONE)
        assert score_files(instance, first, resources).success  # one run, both robots
        assert instance.get_materialized_partitions(file_events.key) == {
            f"{DAY_ONE}|r1",
            f"{DAY_ONE}|r2",
        }
        second = files_of(tmp_path, worn.iloc[400:], ["c.csv"], DAY_TWO)
        assert score_files(instance, second, resources).success
        assert instance.get_materialized_partitions(file_events.key) == {
            f"{DAY_ONE}|r1",
            f"{DAY_ONE}|r2",
            f"{DAY_TWO}|r1",
            f"{DAY_TWO}|r2",
        }
        # Each file is a materialization of its robot-day, named in its metadata.
        records = instance.fetch_materializations(file_events.key, limit=100).records
        by_file = {
            (str(r.partition_key), str(m.metadata["file_name"].value)): m
            for r in records
            if (m := r.asset_materialization) is not None
        }
        assert sorted(by_file) == sorted(
            [
                (f"{DAY_ONE}|{robot}", name)
                for robot in ROBOTS_OF_TEST
                for name in ("a.csv", "b.csv")
            ]
            + [(f"{DAY_TWO}|{robot}", "c.csv") for robot in ROBOTS_OF_TEST]
        )
        a_of_r1 = by_file[(f"{DAY_ONE}|r1", "a.csv")]
        events = read_events(scoring_db.engine(), "a.csv", "r1")
        assert a_of_r1.metadata["events"].value == len(events)
        assert len(str(a_of_r1.metadata["file_sha256"].value)) == 64
        # Each file's verdicts are on its robot-day too: the check's partitions are days.
        check = dg.AssetCheckKey(file_events.key, ERROR_CHECK)
        evaluations = instance.event_log_storage.get_asset_check_execution_history(check, 100)
        assert {e.partition for e in evaluations} == {
            f"{day}|{robot}" for day in (DAY_ONE, DAY_TWO) for robot in ROBOTS_OF_TEST
        }


def test_an_instance_of_the_robot_by_file_layout_upgrades_at_the_sensors_tick(
    drop: Path,
) -> None:
    with dg.instance_for_test() as instance:
        # Today's layout: every file a key of the landed_files partitions, crossed with robots.
        instance.add_dynamic_partitions(ROBOTS, ["r1", "r2"])
        instance.add_dynamic_partitions(LEGACY_FILE_PARTITIONS, ["x.csv", "y.csv"])
        for file_key, robot in (("x.csv", "r1"), ("y.csv", "r2"), ("x.csv", "r2")):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    file_events.key,
                    partition=f"{file_key}|{robot}",
                    metadata={"events": 3, "robot": robot},
                )
            )
        tick(instance)
        assert instance.get_dynamic_partitions(LEGACY_FILE_PARTITIONS) == []
        partitions = instance.get_materialized_partitions(file_events.key)
        today = datetime.now(UTC).date().isoformat()  # when the old ones were materialized
        assert {key for key in partitions if "|" in key and key[:4].isdigit()} == {
            f"{today}|r1",
            f"{today}|r2",
        }
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=file_events.key, asset_partitions=[f"{today}|r2"]),
            limit=10,
        ).records
        names = sorted(
            str(m.metadata["file_name"].value)
            for r in records
            if (m := r.asset_materialization) is not None
        )
        assert names == ["x.csv", "y.csv"]
        assert upgrade_file_partitions(instance, logging.getLogger("test")) == 0  # done once


def test_a_file_landing_today_materializes_a_day_the_definition_knows() -> None:
    # Dagster's daily partitions end with yesterday unless told otherwise: today's files
    # would then be invisible to the UI and to the views' automation until midnight.
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(ROBOTS, ["r1"])
        today = str(robot_day_key("r1", landing_day(time.time())))
        known = robot_days_partitions.get_partition_keys(dynamic_partitions_store=instance)
        assert today in known
