"""Training use cases: which readings train a robot's next model."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, Table

from pm_pipeline.core.model.exclusion import Exclusion, exclude_flagged
from pm_pipeline.core.model.windows import parse_utc, training_window_start
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.events import landed_event_spans
from pm_pipeline.db.readings import newest_reading_time, read_readings


@dataclass(frozen=True)
class TrainingWindow:
    """Bounds of a training window; all optional, ``last_days`` counted back from the
    robot's newest stored reading, ``limit`` keeping the newest readings only."""

    start: str | None = None
    end: str | None = None
    last_days: float | None = None
    limit: int | None = None


def read_training_window(
    engine: Engine, table: Table, robot_id: str, window: TrainingWindow
) -> pd.DataFrame:
    """The robot's stored readings inside ``window``, oldest first.

    Raises
    ------
    PipelineError
        When a bound is not an ISO 8601 time; the message names it.
    """
    newest = newest_reading_time(engine, table, robot_id)
    start = training_window_start(window.start, window.last_days, newest)
    end = parse_utc(window.end, "end").isoformat() if window.end else None
    return read_readings(engine, table, robot_id, start, end, window.limit)


def without_flagged_readings(
    engine: Engine, robot_id: str, readings: pd.DataFrame, margin_s: float
) -> tuple[pd.DataFrame, Exclusion]:
    """``readings`` (the robot's, oldest first) without those inside the robot's events
    found in landed files, each widened by ``margin_s`` seconds; the synthetic sets' events
    and other robots' events leave nothing out.

    See :mod:`pm_pipeline.core.model.exclusion` for why whole rows go, and how the hole
    they leave is a data gap to the fit.
    """
    if readings.empty:
        return exclude_flagged(readings, pd.DataFrame(columns=["start_ts", "end_ts"]), margin_s)
    margin, times = pd.Timedelta(seconds=margin_s), readings[TIME_COLUMN]
    events = landed_event_spans(engine, robot_id, times.iloc[0] - margin, times.iloc[-1] + margin)
    return exclude_flagged(readings, events, margin_s)
