"""The project's own sample export: a day of a robot that looks like the real one.

The shape follows a real 8-axis materials-handling robot: about 64% of readings idle with
every axis at exactly 0 A, motion cycles of ~30 s separated by short pauses and long idle
stretches, per-axis current scales from tenths of an ampere (axis 8) to tens (axis 2), a
~1.9 s cadence with jitter, and a handful of gaps from half a minute to several minutes.
The held-back slice carries one simulated wear fault so scoring it has something to find.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from pm_pipeline.core.schema import AXES, TIME_COLUMN

# Median and 95th percentile of active current (A) and the drive's ceiling, per axis.
AXIS_PROFILES: dict[str, tuple[float, float, float]] = {
    "axis_1": (0.60, 8.6, 23.6),
    "axis_2": (10.4, 26.3, 51.7),
    "axis_3": (6.5, 21.2, 41.9),
    "axis_4": (0.93, 6.35, 15.7),
    "axis_5": (1.65, 7.9, 20.8),
    "axis_6": (0.75, 7.4, 20.9),
    "axis_7": (0.70, 8.08, 8.11),
    "axis_8": (0.098, 1.31, 5.9),
}
CADENCE_S = 1.89
SAMPLE_START = pd.Timestamp("2026-01-05T06:00:00Z")


@dataclass(frozen=True)
class SampleFault:
    """The wear fault planted in the held-back slice: a multiplicative current increase."""

    axis: str
    factor: float
    start: pd.Timestamp
    end: pd.Timestamp


def generate_robot_readings(hours: float, start: pd.Timestamp, seed: int) -> pd.DataFrame:
    """Simulate ``hours`` of readings in the canonical layout.

    Parameters
    ----------
    hours
        Length of the simulated period.
    start
        First timestamp (UTC).
    seed
        Random seed; the same seed gives the same readings.

    Returns
    -------
    pandas.DataFrame
        Canonical columns, amperes, idle rows exactly 0.
    """
    rng = np.random.default_rng(seed)
    count = int(hours * 3600 / CADENCE_S)
    steps = np.clip(rng.normal(CADENCE_S, 0.04, count), 1.72, 2.1)
    # About one gap every 3.7 h (the real export has 6 in 22 h), spread over the period.
    strata = np.linspace(1, count, max(round(hours / 3.7), 2) + 1).astype(int)
    gap_rows = np.array([rng.integers(low, high) for low, high in pairwise(strata)])
    steps[gap_rows] = rng.choice([33.0, 33.4, 332.6, 402.5], size=len(gap_rows))
    steps[0] = 0.0
    times = start + pd.to_timedelta(np.cumsum(steps), unit="s")
    active, phase = _activity(count, rng)
    frame = pd.DataFrame({TIME_COLUMN: pd.Series(times).dt.round("ms").dt.as_unit("us")})
    for axis in AXES:
        frame[axis] = _axis_current(axis, active, phase, rng)
    return frame


def _activity(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Motion cycles of ~16 samples, short pauses, and occasional long idle stretches."""
    active = np.zeros(count, dtype=bool)
    phase = np.zeros(count)
    position = 0
    while position < count:
        length = int(rng.integers(14, 19))
        active[position : position + length] = True
        phase[position : position + length] = np.linspace(0, 1, length)[: count - position]
        pause = int(rng.integers(8, 14)) if rng.random() > 0.035 else int(rng.integers(150, 900))
        position += length + pause
    return active, phase


def _axis_current(
    axis: str, active: np.ndarray, phase: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    median, p95, ceiling = AXIS_PROFILES[axis]
    spread = np.log(p95 / median) / 1.645
    level = np.exp(np.log(median) + spread * rng.standard_normal(len(active)))
    # The 1.2 brings the cycle-shaped current back to the measured median and p95.
    shape = 1.2 * (0.55 + 0.45 * np.sin(np.pi * phase))
    current = np.minimum(level * shape, ceiling)
    current[rng.random(len(active)) < 0.03] = 0.0
    return np.where(active, np.round(current, 5), 0.0)


def inject_wear(readings: pd.DataFrame, fault: SampleFault) -> pd.DataFrame:
    """Multiply the active current of one axis by ``fault.factor`` inside the fault window."""
    inside = readings[TIME_COLUMN].between(fault.start, fault.end)
    worn = readings.copy()
    worn.loc[inside, fault.axis] = np.round(worn.loc[inside, fault.axis] * fault.factor, 5)
    return worn


def write_export(readings: pd.DataFrame, path: Path) -> None:
    """Write readings in the controller's export format (quoted header, 14 axes, ``Z`` times)."""
    # The controller quotes the header and its text fields but not the numbers.
    out = pd.DataFrame({"Trait": '"current"'}, index=readings.index)
    for number in range(1, 15):
        axis = f"axis_{number}"
        out[f"Axis #{number}"] = readings.get(axis, np.nan)
    stamps = readings[TIME_COLUMN].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3]
    out["Time"] = '"' + stamps + 'Z"'
    header = ",".join(f'"{name}"' for name in out.columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", newline="") as handle:
        handle.write(header + "\n")
        out.to_csv(
            handle,
            index=False,
            header=False,
            quoting=csv.QUOTE_NONE,
            quotechar="'",
            float_format="%.10g",
            na_rep="",
        )
    temporary.replace(path)


def planted_fault(history_hours: float = 24.0, landed_hours: float = 2.0) -> SampleFault:
    """The wear fault in the held-back slice: axis 2 draws 60% more current for 15 minutes."""
    start = SAMPLE_START + pd.Timedelta(hours=history_hours + landed_hours / 2)
    return SampleFault("axis_2", 1.6, start, start + pd.Timedelta(minutes=15))


def write_sample_exports(
    folder: Path, history_hours: float = 24.0, landed_hours: float = 2.0, seed: int = 20260105
) -> tuple[Path, Path, SampleFault]:
    """Write the sample history and its held-back continuation into ``folder``.

    Parameters
    ----------
    folder
        Destination; created if missing.
    history_hours, landed_hours
        Lengths of the ingested history and of the held-back slice scored as a landed file.
    seed
        Random seed.

    Returns
    -------
    tuple
        Path of the history export, path of the held-back export, and the planted fault.
    """
    readings = generate_robot_readings(history_hours + landed_hours, SAMPLE_START, seed)
    split = SAMPLE_START + pd.Timedelta(hours=history_hours)
    fault = planted_fault(history_hours, landed_hours)
    readings = inject_wear(readings, fault)
    history_path = folder / "sample_export.csv"
    landed_path = folder / "sample_landed.csv"
    write_export(readings[readings[TIME_COLUMN] < split], history_path)
    write_export(readings[readings[TIME_COLUMN] >= split], landed_path)
    return history_path, landed_path, fault
