from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.readings import read_readings, readings_span
from pm_pipeline.db.schema import ingested_files, readings_table


def test_ingest_is_idempotent_and_round_trips(database_url: str, robot_day: pd.DataFrame) -> None:
    engine, table = open_engine(database_url), readings_table()
    first = ingest_readings(engine, table, robot_day, "r1", "day.csv", "sha")
    assert (first.rows_added, first.rows_present) == (len(robot_day), 0)
    again = ingest_readings(engine, table, robot_day, "r1", "day.csv", "sha")
    assert (again.rows_added, again.rows_present) == (0, len(robot_day))
    stored = read_readings(engine, table, "r1")
    pd.testing.assert_frame_equal(stored, robot_day.reset_index(drop=True))
    assert readings_span(engine, table, "r1")[0] == len(robot_day)
    # Another robot's readings at the same instants are different readings.
    other = ingest_readings(engine, table, robot_day.head(10), "r2", "day.csv", "sha")
    assert other.rows_added == 10


def test_overlapping_file_adds_only_new_rows(database_url: str, robot_day: pd.DataFrame) -> None:
    engine, table = open_engine(database_url), readings_table()
    ingest_readings(engine, table, robot_day.iloc[:100], "r1", "a.csv", "a")
    result = ingest_readings(engine, table, robot_day.iloc[50:150], "r1", "b.csv", "b")
    assert (result.rows_added, result.rows_present) == (50, 50)


def test_nulls_survive_as_nulls(database_url: str, robot_day: pd.DataFrame) -> None:
    engine, table = open_engine(database_url), readings_table()
    frame = robot_day.head(20).copy()
    frame.loc[3, "axis_4"] = np.nan
    ingest_readings(engine, table, frame, "r1", "n.csv", "n")
    assert read_readings(engine, table, "r1")["axis_4"].isna().tolist()[3]


def test_failing_file_leaves_nothing(database_url: str, robot_day: pd.DataFrame) -> None:
    engine, table = open_engine(database_url), readings_table()
    broken = robot_day.head(50).copy()
    broken[TIME_COLUMN] = broken[TIME_COLUMN].astype(object)
    broken.loc[40, TIME_COLUMN] = None  # violates NOT NULL half-way through the file
    with pytest.raises(StatementError):
        ingest_readings(engine, table, broken, "r1", "bad.csv", "bad")
    assert readings_span(engine, table, "r1")[0] == 0
    with engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(ingested_files)).scalar() == 0
        )


def test_window_and_limit(database_url: str, robot_day: pd.DataFrame) -> None:
    engine, table = open_engine(database_url), readings_table()
    ingest_readings(engine, table, robot_day, "r1", "day.csv", "sha")
    times = robot_day[TIME_COLUMN]
    window = read_readings(
        engine, table, "r1", start=times.iloc[10].isoformat(), end=times.iloc[19].isoformat()
    )
    assert window[TIME_COLUMN].tolist() == times.iloc[10:20].tolist()
    newest = read_readings(engine, table, "r1", limit=5)
    assert newest[TIME_COLUMN].tolist() == times.iloc[-5:].tolist()


def test_real_export_round_trip_sqlite(real_export: Path, sqlite_url: str) -> None:
    engine, table = open_engine(sqlite_url), readings_table()
    frame = read_export(real_export)
    assert ingest_readings(engine, table, frame, "r1", "real", "x").rows_added == 39_672
    assert ingest_readings(engine, table, frame, "r1", "real", "x").rows_added == 0


@pytest.mark.parametrize("name", ["pm_dashboard; DROP TABLE x", "1table", "a.b.c", "tab le"])
def test_table_names_are_validated(name: str) -> None:
    with pytest.raises(PipelineError, match="not a valid identifier"):
        readings_table(name)


def test_time_column_is_validated() -> None:
    with pytest.raises(PipelineError, match="time column"):
        readings_table("pm_dashboard", "ts--")
    assert readings_table("custom.readings", "ts").schema == "custom"
