"""The fault kinds of the detection harness (:mod:`pm_pipeline.core.evaluation.harness`).

Each injector takes readings, an axis, a window ``[start, end]`` and a random generator, and
returns a modified copy and the fault's *onset* (when it reaches its nominal size; time to
detect counts from there). "Moving samples" are the axis' non-zero readings: wear changes
the current an axis draws while it moves, not its 0 A at standstill.

========== =====================================================================
kind       what changes inside the window
========== =====================================================================
step_1.3   moving samples × 1.3 (likewise ``step_1.5``, ``step_1.8``)
ramp       moving samples × (1 + p · progress), p ~ U(0.3, 0.6), rising over all but the
           last 10–20 min, then held; onset when it reaches × 1.3
bursts     20 s of moving samples × 2 every 2 minutes
jitter     moving samples × max(0, 1 + s · N(0, 1)), s ~ U(0.3, 0.5): noise, not a mean shift
stuck      every reading frozen at the axis' last non-zero reading before the window
idle_offset readings while the whole robot stands still + U(0.5, 1.0) A
========== =====================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.faults import robot_idle

Injector = Callable[
    [pd.DataFrame, str, pd.Timestamp, pd.Timestamp, np.random.Generator],
    tuple[pd.DataFrame, pd.Timestamp],
]


@dataclass(frozen=True)
class FaultKind:
    """How to inject one kind, how long it lasts, and where it may go."""

    inject: Injector
    minutes: tuple[float, float]
    """Duration range, drawn uniformly."""
    needs: str
    """``moving``: the robot moves in at least ``MOVING_SHARE`` of the window's rows;
    ``idle``: it stands still in at least ``IDLE_SHARE``; ``any``: moves in some."""


MOVING_SHARE = 0.4
IDLE_SHARE = 0.3


def _inside(readings: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    return readings[TIME_COLUMN].between(start, end).to_numpy()


def _moving(readings: pd.DataFrame, axis: str) -> np.ndarray:
    return np.nan_to_num(readings[axis].to_numpy(dtype="float64"), nan=0.0) != 0


def _scaled(
    readings: pd.DataFrame, axis: str, rows: np.ndarray, factors: np.ndarray
) -> pd.DataFrame:
    out = readings.copy()
    values = out[axis].to_numpy(dtype="float64").copy()
    values[rows] = np.round(values[rows] * factors, 5)
    out[axis] = values
    return out


def step(factor: float) -> Injector:
    """Moving samples × ``factor`` for the whole window."""

    def inject(readings, axis, start, end, rng):
        rows = _inside(readings, start, end) & _moving(readings, axis)
        return _scaled(readings, axis, rows, np.full(int(rows.sum()), factor)), start

    return inject


def ramp(readings, axis, start, end, rng):
    """A linear rise to × (1 + p), held for the last 10–20 minutes."""
    peak = rng.uniform(0.3, 0.6)
    rise_end = end - pd.Timedelta(minutes=rng.uniform(10, 20))
    rows = _inside(readings, start, end) & _moving(readings, axis)
    elapsed = (readings[TIME_COLUMN][rows] - start).dt.total_seconds().to_numpy()
    progress = np.clip(elapsed / (rise_end - start).total_seconds(), 0, 1)
    onset = start + (rise_end - start) * (0.3 / peak)
    return _scaled(readings, axis, rows, 1 + peak * progress), onset


def bursts(readings, axis, start, end, rng):
    """20 s at × 2 every 2 minutes, on moving samples."""
    elapsed = (readings[TIME_COLUMN] - start).dt.total_seconds().to_numpy()
    in_burst = (elapsed >= 0) & (elapsed % 120 < 20)
    rows = _inside(readings, start, end) & _moving(readings, axis) & in_burst
    return _scaled(readings, axis, rows, np.full(int(rows.sum()), 2.0)), start


def jitter(readings, axis, start, end, rng):
    """Moving samples × (1 + s · N(0, 1)), floored at 0."""
    size = rng.uniform(0.3, 0.5)
    rows = _inside(readings, start, end) & _moving(readings, axis)
    noise = np.maximum(1 + size * rng.standard_normal(int(rows.sum())), 0.0)
    return _scaled(readings, axis, rows, noise), start


def stuck(readings, axis, start, end, rng):
    """Every reading of the window frozen at the last non-zero reading before it."""
    values = readings[axis].to_numpy(dtype="float64")
    before = (readings[TIME_COLUMN] < start).to_numpy() & (np.nan_to_num(values) != 0)
    level = float(values[np.flatnonzero(before)[-1]]) if before.any() else 1.0
    out = readings.copy()
    out.loc[_inside(readings, start, end), axis] = level
    return out, start


def idle_offset(readings, axis, start, end, rng):
    """Readings while the whole robot stands still + U(0.5, 1.0) A."""
    rows = _inside(readings, start, end) & robot_idle(readings)
    out = readings.copy()
    out.loc[rows, axis] = np.round(out.loc[rows, axis] + rng.uniform(0.5, 1.0), 5)
    return out, start


KINDS: dict[str, FaultKind] = {
    "step_1.3": FaultKind(step(1.3), (10, 30), "moving"),
    "step_1.5": FaultKind(step(1.5), (10, 30), "moving"),
    "step_1.8": FaultKind(step(1.8), (10, 30), "moving"),
    "ramp": FaultKind(ramp, (40, 120), "moving"),
    "bursts": FaultKind(bursts, (10, 30), "moving"),
    "jitter": FaultKind(jitter, (10, 30), "moving"),
    "stuck": FaultKind(stuck, (10, 30), "any"),
    "idle_offset": FaultKind(idle_offset, (10, 30), "idle"),
}


def placeable(moving_share: np.ndarray, needs: str) -> np.ndarray:
    """Which windows, by the share of rows where the robot moves, suit a kind."""
    if needs == "moving":
        return moving_share >= MOVING_SHARE
    if needs == "idle":
        return (1 - moving_share) >= IDLE_SHARE
    return moving_share > 0.05
