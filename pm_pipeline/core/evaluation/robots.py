"""Real robots nobody tuned for, as benchmarks: the UR3 export with its context columns,
and false events per hour of readings on a later stretch of normal operation."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.model.params import DetectorSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.schema import CONTEXT_COLUMNS, TIME_COLUMN

UR3_CURRENTS = (*(f"Current_J{j}" for j in range(6)), "Tool_current")
UR3_CONTEXT = (
    "Temperature_T0",
    *(f"Temperature_J{j}" for j in range(1, 6)),
    *(f"Speed_J{j}" for j in range(6)),
)


def ur3_format() -> ExportFormat:
    """The UR3 export's dialect: seven signed currents on axes 1–7."""
    column_map = {"time": "Timestamp"}
    column_map.update({f"axis_{i + 1}": name for i, name in enumerate(UR3_CURRENTS)})
    return ExportFormat(axis_count=len(UR3_CURRENTS), column_map=column_map)


def ur3_readings(path: Path) -> pd.DataFrame:
    """The UR3 export as readings: currents by the project's parser, joint temperatures and
    speeds as ``context_1…context_12`` (read beside it: the parser stores currents only)."""
    readings = read_export(path, ur3_format()).reset_index(drop=True)
    raw = pd.read_csv(path, sep=";", decimal=",", usecols=["Timestamp", *UR3_CONTEXT])
    raw[TIME_COLUMN] = pd.to_datetime(raw["Timestamp"], utc=True)
    raw = raw.drop(columns="Timestamp").drop_duplicates(TIME_COLUMN)
    context = raw.rename(columns=dict(zip(UR3_CONTEXT, CONTEXT_COLUMNS, strict=False)))
    return readings.merge(context, on=TIME_COLUMN, how="left")


def hours_of_readings(times: pd.Series, dt_s: float, gap_factor: float = 5.0) -> float:
    """Hours covered by readings, data gaps (steps over ``gap_factor × dt``) left out."""
    steps = times.sort_values().diff().dt.total_seconds().to_numpy()[1:]
    return float(np.sum(steps[steps <= gap_factor * dt_s])) / 3600.0


@dataclass(frozen=True)
class NormalRun:
    """Events raised on readings known to be normal."""

    events: int
    hours: float
    channels: int
    seconds: float

    @property
    def per_hour(self) -> float:
        return self.events / self.hours if self.hours else float("nan")


def false_events(
    train: pd.DataFrame, scored: pd.DataFrame, settings: DetectorSettings
) -> tuple[NormalRun, pd.DataFrame]:
    """Train on ``train`` and count the events raised on the normal readings ``scored``."""
    started = time.perf_counter()
    model = fit_model(train, fit_minmax_scaling(train), settings)
    events = detect_events(model, scored)
    hours = hours_of_readings(scored[TIME_COLUMN], model.dt_s, settings.gap_factor)
    run = NormalRun(len(events), hours, len(model.axis_names), time.perf_counter() - started)
    return run, events
