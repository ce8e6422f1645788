"""Training use cases: which readings train a robot's next model."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, Table

from pm_pipeline.core.model.windows import parse_utc, training_window_start
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
