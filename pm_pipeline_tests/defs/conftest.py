"""The drop folder the sensor tests land files in, and a database with six hours of history."""

from pathlib import Path

import pandas as pd
import pytest

from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline_tests.partitioned import ROBOT
from pm_pipeline_tests.store import upgraded


@pytest.fixture
def drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    monkeypatch.setenv("PM_DROP_DIR", str(folder))
    monkeypatch.setenv("PM_SETTLE_SECONDS", "2")
    return folder


@pytest.fixture
def database(tmp_path: Path, robot_day: pd.DataFrame) -> ReadingsDatabaseResource:
    database = ReadingsDatabaseResource(url=upgraded(f"sqlite:///{tmp_path / 'readings.db'}"))
    history = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=6)
    ]
    ingest_readings(database.engine(), database.table(), history, ROBOT, "h", "h")
    return database
