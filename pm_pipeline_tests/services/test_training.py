"""Which stored readings train the next model: a window by time, by days back, or by count."""

import pandas as pd
import pytest

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.training import TrainingWindow, read_training_window


def test_windows_pick_the_readings_they_name(database_url: str, robot_day: pd.DataFrame) -> None:
    engine, table = open_engine(database_url), readings_table()
    ingest_readings(engine, table, robot_day, "r1", "day.csv", "sha")
    ingest_readings(engine, table, robot_day.iloc[:10], "r2", "other.csv", "sha2")
    times = robot_day[TIME_COLUMN]

    whole = read_training_window(engine, table, "r1", TrainingWindow())
    assert len(whole) == len(robot_day)
    last_hour = read_training_window(engine, table, "r1", TrainingWindow(last_days=1 / 24))
    assert last_hour[TIME_COLUMN].min() >= times.max() - pd.Timedelta(hours=1)
    assert last_hour[TIME_COLUMN].max() == times.max()
    start, end = times.iloc[100], times.iloc[199]
    bounded = read_training_window(
        engine, table, "r1", TrainingWindow(start.isoformat(), end.isoformat())
    )
    assert len(bounded) == 100 and bounded[TIME_COLUMN].iloc[0] == start
    newest = read_training_window(engine, table, "r1", TrainingWindow(limit=50))
    assert newest[TIME_COLUMN].tolist() == times.iloc[-50:].tolist()
    assert len(read_training_window(engine, table, "r2", TrainingWindow())) == 10
    with pytest.raises(PipelineError, match="end"):
        read_training_window(engine, table, "r1", TrainingWindow(end="yesterday"))
