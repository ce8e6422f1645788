"""Which stored readings train the next model: a window by time, by days back, or by count,
less the readings inside the robot's stored events of landed files."""

import pandas as pd
import pytest

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.exclusion import EXCLUDED_READINGS_ATTR
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN, synthetic_source
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import replace_events
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.registry import register_model
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.sources import training_readings
from pm_pipeline.services.training import (
    TrainingWindow,
    read_training_window,
    without_flagged_readings,
)


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


def stored_event(start: pd.Timestamp, minutes: float) -> pd.DataFrame:
    """One detected ALERT on axis_2 from ``start``, as a detector reports it."""
    return pd.DataFrame(
        {
            "axis": ["axis_2"],
            "severity": ["ALERT"],
            "start": [start],
            "end": [start + pd.Timedelta(minutes=minutes)],
            "duration_s": [minutes * 60],
            "z_mean": [4.0],
            "z_peak": [5.0],
            "p_value": [1e-4],
            "n_samples": [100],
        }
    )


def test_training_leaves_out_the_robots_landed_events_with_the_margin(
    database_url: str, robot_day: pd.DataFrame
) -> None:
    engine, table = open_engine(database_url), readings_table()
    ingest_readings(engine, table, robot_day, "r1", "day.csv", "sha")
    ingest_readings(engine, table, robot_day, "r2", "day.csv", "sha")
    model = fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())
    for robot in ("r1", "r2"):  # a version is named with its robot
        register_model(engine, model, robot, None, {})
    times = robot_day[TIME_COLUMN]
    flagged, elsewhere = times.iloc[3000], times.iloc[9000]
    replace_events(engine, "landed.csv", stored_event(flagged, 10), model.version, None, "r1")
    # Neither a synthetic set's events nor another robot's leave anything out for r1.
    synthetic = synthetic_source(model.version)
    replace_events(engine, synthetic, stored_event(elsewhere, 10), model.version, None, "r1")
    replace_events(engine, "landed.csv", stored_event(elsewhere, 10), model.version, None, "r2")

    settings = load_settings({"PM_TRAINING_EXCLUDE_MARGIN_SECONDS": "60"})
    gathered = training_readings(settings, engine, database_url, table, "r1", TrainingWindow())
    low, high = flagged - pd.Timedelta(seconds=60), flagged + pd.Timedelta(minutes=11)
    inside = times.between(low, high)
    assert gathered.exclusion.readings == int(inside.sum()) > 300
    assert gathered.readings[TIME_COLUMN].tolist() == times[~inside].tolist()
    assert gathered.readings.attrs[EXCLUDED_READINGS_ATTR] == gathered.exclusion.readings
    assert gathered.exclusion.spans[["start", "end"]].values.tolist() == [[low, high]]
    assert gathered.exclusion.margin_s == 60.0

    other, exclusion = without_flagged_readings(
        engine, "r2", read_training_window(engine, table, "r2", TrainingWindow()), 0
    )
    assert exclusion.readings == int(
        times.between(elsewhere, elsewhere + pd.Timedelta(minutes=10)).sum()
    )
    assert len(other) == len(robot_day) - exclusion.readings
    empty, nothing = without_flagged_readings(engine, "r1", gathered.readings.iloc[0:0], 60)
    assert empty.empty and nothing.readings == 0
    flagged_only = robot_day[times.between(elsewhere, elsewhere + pd.Timedelta(seconds=50))]
    with pytest.raises(PipelineError, match=r"robot r2 holds 27 readings and 27 of them lie"):
        without_flagged_readings(engine, "r2", flagged_only, 0)
    # An event outside the window, farther than the margin, leaves nothing out.
    early = TrainingWindow(end=(flagged - pd.Timedelta(minutes=5)).isoformat())
    before = training_readings(settings, engine, database_url, table, "r1", early)
    assert before.exclusion.readings == 0 and before.exclusion.spans.empty
