"""Seeded fault injectors for scoring detectors on real readings.

Each injector is a pure function ``inject_<kind>(readings, axis, start, seed, **sizes)`` that
returns ``(modified_copy, window)``. ``window`` is a dict with ``axis, kind, level, start, end,
onset`` where ``[start, end]`` is the ground-truth span (any overlapping event on ``axis``
catches it) and ``onset`` is when the fault first reaches its nominal size (for a ramp, the
moment it reaches +40%; otherwise ``start``) — time to detect is measured from ``onset``.

Motion state is taken from the original readings: a row is idle when all axes read 0
(blank = 0). Kinds:

a. ``sustained``: active current on one axis x U(1.4, 1.8) for 10-15 min.
b. ``ramp``: current x (1 + p * progress), p ~ U(0.4, 0.6), linear over 1-3 h, then held
   10-20 min.
c. ``spikes``: bursts of 2-5 samples on active rows, each sample + U(2, 4) x the axis' mean
   active current, bursts covering ~20% of the active rows of a 10-20 min window (mean
   active current rises by ~+40-80%).
d. ``stuck``: the axis reads one frozen value (a U(0.5, 0.9) quantile of its active current)
   in every row, active and idle, for 10-30 min.
e. ``idle_offset``: idle rows read U(0.5, 1.0) A instead of 0 for 10-30 min.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from pm_pipeline.core.model.trained import axes_with_data
from pm_pipeline.core.schema import AXES, TIME_COLUMN

Injected = tuple[pd.DataFrame, dict]

KINDS = ("sustained", "ramp", "spikes", "stuck", "idle_offset")


def robot_idle(readings: pd.DataFrame) -> np.ndarray:
    """True where every axis reads 0 or blank."""
    values = np.nan_to_num(readings[list(AXES)].to_numpy(dtype="float64"), nan=0.0)
    return (values == 0).all(axis=1)


def _window(
    axis: str, kind: str, times: pd.Series, rows: np.ndarray, onset: pd.Timestamp | None = None
) -> dict:
    first, last = times[rows].iloc[0], times[rows].iloc[-1]
    return {
        "axis": axis,
        "kind": kind,
        "level": "ALERT",
        "start": first,
        "end": last,
        "onset": first if onset is None else onset,
    }


def _span(readings: pd.DataFrame, start: pd.Timestamp, minutes: float) -> np.ndarray:
    times = readings[TIME_COLUMN]
    return ((times >= start) & (times <= start + pd.Timedelta(minutes=minutes))).to_numpy()


def inject_sustained(
    readings: pd.DataFrame,
    axis: str,
    start: pd.Timestamp,
    seed: int,
    factor: float | None = None,
    minutes: float | None = None,
) -> Injected:
    """Active current of ``axis`` × U(1.4, 1.8) for 10–15 minutes."""
    rng = np.random.default_rng(seed)
    factor = rng.uniform(1.4, 1.8) if factor is None else factor
    minutes = rng.uniform(10, 15) if minutes is None else minutes
    out = readings.copy()
    rows = _span(out, start, minutes)
    out.loc[rows, axis] = out.loc[rows, axis] * factor
    return out, {**_window(axis, "sustained", out[TIME_COLUMN], rows), "size": factor}


def inject_ramp(
    readings: pd.DataFrame,
    axis: str,
    start: pd.Timestamp,
    seed: int,
    peak: float | None = None,
    ramp_hours: float | None = None,
    hold_minutes: float | None = None,
) -> Injected:
    """Current × (1 + peak·progress) over 1–3 h, then held; onset when it reaches +40%."""
    rng = np.random.default_rng(seed)
    peak = rng.uniform(0.4, 0.6) if peak is None else peak
    ramp_hours = rng.uniform(1.0, 3.0) if ramp_hours is None else ramp_hours
    hold_minutes = rng.uniform(10, 20) if hold_minutes is None else hold_minutes
    out = readings.copy()
    total = ramp_hours * 60 + hold_minutes
    rows = _span(out, start, total)
    elapsed = (out[TIME_COLUMN][rows] - start).dt.total_seconds().to_numpy()
    progress = np.clip(elapsed / (ramp_hours * 3600), 0, 1)
    out.loc[rows, axis] = out.loc[rows, axis].to_numpy() * (1 + peak * progress)
    onset = start + pd.Timedelta(hours=ramp_hours * 0.4 / peak)
    return out, {**_window(axis, "ramp", out[TIME_COLUMN], rows, onset), "size": 1 + peak}


def inject_spikes(
    readings: pd.DataFrame,
    axis: str,
    start: pd.Timestamp,
    seed: int,
    height: float | None = None,
    minutes: float | None = None,
    share: float = 0.2,
) -> Injected:
    """Bursts of 2–5 active samples raised by 2–4× the mean active current."""
    rng = np.random.default_rng(seed)
    minutes = rng.uniform(10, 20) if minutes is None else minutes
    out = readings.copy()
    idle = robot_idle(readings)
    reference = float(np.nanmean(readings[axis].to_numpy()[~idle]))
    rows = _span(out, start, minutes)
    active_rows = np.flatnonzero(rows & ~idle)
    n = len(active_rows)
    # Burst starts on active rows; each burst spans 2-5 consecutive active rows.
    lengths = rng.integers(2, 6, size=n)
    starts = rng.random(n) < share / 3.5
    hit = np.zeros(n, dtype=bool)
    offsets = np.arange(5)
    covered = np.flatnonzero(starts)[:, None] + offsets[None, :]
    keep = offsets[None, :] < lengths[starts][:, None]
    covered = covered[keep]
    hit[covered[covered < n]] = True
    heights = (rng.uniform(2.0, 4.0, size=n) if height is None else np.full(n, height)) * reference
    values = out[axis].to_numpy(dtype="float64").copy()
    values[active_rows[hit]] += heights[hit]
    out[axis] = values
    return out, {**_window(axis, "spikes", out[TIME_COLUMN], rows), "size": float(hit.mean())}


def inject_stuck(
    readings: pd.DataFrame,
    axis: str,
    start: pd.Timestamp,
    seed: int,
    level: float | None = None,
    minutes: float | None = None,
) -> Injected:
    """The axis reads one frozen, plausible value in every row for 10–30 minutes."""
    rng = np.random.default_rng(seed)
    minutes = rng.uniform(10, 30) if minutes is None else minutes
    idle = robot_idle(readings)
    active_values = readings[axis].to_numpy()[~idle]
    level = float(np.nanquantile(active_values, rng.uniform(0.5, 0.9))) if level is None else level
    out = readings.copy()
    rows = _span(out, start, minutes)
    out.loc[rows, axis] = level
    return out, {**_window(axis, "stuck", out[TIME_COLUMN], rows), "size": level}


def inject_idle_offset(
    readings: pd.DataFrame,
    axis: str,
    start: pd.Timestamp,
    seed: int,
    offset: float | None = None,
    minutes: float | None = None,
) -> Injected:
    """Idle rows read U(0.5, 1.0) A instead of 0 for 10–30 minutes."""
    rng = np.random.default_rng(seed)
    offset = rng.uniform(0.5, 1.0) if offset is None else offset
    minutes = rng.uniform(10, 30) if minutes is None else minutes
    idle = robot_idle(readings)
    out = readings.copy()
    rows = _span(out, start, minutes)
    out.loc[rows & idle, axis] = out.loc[rows & idle, axis] + offset
    return out, {**_window(axis, "idle_offset", out[TIME_COLUMN], rows), "size": offset}


INJECTORS: dict[str, Callable[..., Injected]] = {
    "sustained": inject_sustained,
    "ramp": inject_ramp,
    "spikes": inject_spikes,
    "stuck": inject_stuck,
    "idle_offset": inject_idle_offset,
}

# Minutes a window may need (upper bound) and what it must contain to be a fault at all.
_MAX_MINUTES = {"sustained": 15, "ramp": 200, "spikes": 20, "stuck": 30, "idle_offset": 30}


def plan_injections(readings: pd.DataFrame, per_kind: int, seed: int) -> pd.DataFrame:
    """Draw ``per_kind`` (axis, start, seed) triples per kind, cycling through the axes that
    carry readings (a robot's absent, blank axes get no fault).

    A start is accepted when its first 10 minutes hold at least 25% active rows (increase,
    ramp, spikes: a current increase needs motion to show) or at least 25% idle rows
    (idle offset), and at least 10% of each (stuck), and the longest window still fits.
    """
    rng = np.random.default_rng(seed)
    axes = axes_with_data(readings)
    times = readings[TIME_COLUMN].reset_index(drop=True)
    idle = robot_idle(readings)
    seconds = (times - times.iloc[0]).dt.total_seconds().to_numpy()
    # Share of active rows in the 10 minutes after each row (vectorised with searchsorted).
    end_10 = np.searchsorted(seconds, seconds + 600, side="right")
    cum_active = np.r_[0, np.cumsum(~idle)]
    active_share = (cum_active[end_10] - cum_active[np.arange(len(seconds))]) / np.maximum(
        end_10 - np.arange(len(seconds)), 1
    )
    rows = []
    for kind in KINDS:
        fits = seconds + _MAX_MINUTES[kind] * 60 <= seconds[-1]
        if kind == "idle_offset":
            ok = fits & (active_share <= 0.75)
        elif kind == "stuck":
            ok = fits & (active_share >= 0.1) & (active_share <= 0.9)
        else:
            ok = fits & (active_share >= 0.25)
        candidates = np.flatnonzero(ok)
        picks = rng.choice(candidates, size=per_kind, replace=len(candidates) < per_kind)
        for i, pick in enumerate(picks):
            rows.append(
                {
                    "kind": kind,
                    "axis": axes[i % len(axes)],
                    "start": times.iloc[pick],
                    "seed": int(rng.integers(0, 2**31)),
                }
            )
    return pd.DataFrame(rows)


def inject(
    readings: pd.DataFrame, kind: str, axis: str, start: pd.Timestamp, seed: int
) -> Injected:
    """Inject one fault of ``kind``; returns the modified copy and its ground-truth window."""
    return INJECTORS[kind](readings, axis, start, seed)
