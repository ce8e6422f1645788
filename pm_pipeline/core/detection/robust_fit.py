"""Fitting the ``robust`` detector mode: same model family, split by motion state.

* **Motion state.** For axis ``a`` a row is *idle* when at most ``idle_other_max`` of the
  *other* axes carry current (blank = no load = 0, so a robot's absent axes never count).
  Leaving ``a`` out means a fault that makes ``a`` read non-zero at standstill cannot hide by
  turning the row "active".
* **Active channel.** The line is fitted on active rows only, as a level (slope 0: an
  extrapolated trend raised false alarms). Residuals are standardised with their median and
  MAD, clipped to ``±z_clip``, and averaged over the last ``window_samples`` active samples
  (a few motion cycles). That mean is standardised again with the median and MAD of the
  same statistic on the training window, so ``z`` reads like the seed's.
* **Idle channel.** The model of an idle row is 0 A; the statistic is the mean absolute scaled
  current of the last ``idle_window_samples`` idle rows over its training spread, floored at
  one quantisation step of the axis.
* **Sustain times** are the shortest run lengths whose rate on the training window stays
  within ``false_alarm_budget_per_h`` (never below ``min_sustain_samples`` active or
  ``min_idle_sustain_samples`` idle samples).

Everything is vectorised over samples; loops run over axes and channels only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import RobustSettings
from pm_pipeline.core.model.timeaxis import gap_breaks, run_ids
from pm_pipeline.core.model.trained import (
    MIN_TRAINING_ROWS,
    AxisModel,
    AxisThresholds,
    ChannelModel,
    MinMaxScaling,
    axis_currents,
)
from pm_pipeline.core.schema import AXES

MAD_TO_SIGMA = 1.4826
CHANNELS = ("active", "idle")


def fit_robust_axes(
    readings: pd.DataFrame,
    seconds: np.ndarray,
    scaling: MinMaxScaling,
    dt_s: float,
    params: RobustSettings,
) -> dict[str, AxisModel]:
    """Fit both channels of every axis on time-ordered training readings.

    Parameters
    ----------
    readings
        Canonical readings, sorted by time, index 0…n-1.
    seconds
        Seconds since the model epoch, per row.
    scaling
        Min-max ranges of the same readings.
    dt_s
        Median cadence.
    params
        ``robust`` settings.

    Returns
    -------
    dict
        One :class:`AxisModel` per axis of ``scaling``, with ``channels`` set.

    Raises
    ------
    PipelineError
        When fewer than two axes have readings (no other axis tells motion from standstill),
        or an axis has too few active readings.
    """
    if len(scaling.minimums) < 2:
        raise PipelineError(
            f"mode 'robust' tells motion from standstill by the other axes, and only "
            f"{', '.join(scaling.minimums)} has readings in the training window; train with "
            "mode 'seed', or on a window where more axes carry readings."
        )
    segment = np.cumsum(gap_breaks(seconds, dt_s, params.gap_factor))
    hours = max((seconds[-1] - seconds[0]) / 3600.0, 1e-9)
    idle = idle_mask(readings, params.idle_other_max)
    return {
        axis: _fit_axis(
            axis, scaling.scale(axis, readings[axis]), segment, idle[axis], hours, dt_s, params
        )
        for axis in scaling.minimums
    }


def idle_mask(readings: pd.DataFrame, other_max: int = 0) -> dict[str, np.ndarray]:
    """Per axis (all eight): True where at most ``other_max`` of the other axes are non-zero.

    A blank reading counts as 0, so axes a robot lacks (blank throughout) never make a row
    active.
    """
    return others_at_most(moving_axes(readings), other_max)


def moving_axes(readings: pd.DataFrame) -> np.ndarray:
    """One column per axis (all eight): True where it reads non-zero; blank counts as 0."""
    return np.nan_to_num(axis_currents(readings), nan=0.0) != 0


def others_at_most(moving: np.ndarray, other_max: int) -> dict[str, np.ndarray]:
    """Per axis, True where at most ``other_max`` of the other axes move (see
    :func:`moving_axes`)."""
    total = moving.sum(axis=1)
    return {axis: (total - moving[:, i]) <= other_max for i, axis in enumerate(AXES)}


def _fit_axis(
    axis: str,
    scaled: np.ndarray,
    segment: np.ndarray,
    idle: np.ndarray,
    hours: float,
    dt_s: float,
    params: RobustSettings,
) -> AxisModel:
    present = np.isfinite(scaled)
    active_rows, idle_rows = present & ~idle, present & idle
    level_data = scaled[active_rows]
    needed = max(MIN_TRAINING_ROWS, params.window_samples)
    if len(level_data) < needed:
        raise PipelineError(
            f"column {axis!r}: only {len(level_data)} active readings in the training window; "
            f"need at least {needed}. Widen the window."
        )
    level = float(np.mean(level_data))
    residual = level_data - level
    median, sigma = float(np.median(residual)), robust_sigma(residual)
    magnitudes = np.abs(scaled[present])
    quantum = float(magnitudes[magnitudes > 0].min()) if (magnitudes > 0).any() else 1e-6

    z_sample = np.clip((residual - median) / sigma, -params.z_clip, params.z_clip)
    mean, count = rolling_mean(z_sample, segment[active_rows], params.window_samples)
    full = mean[count == params.window_samples]
    center = float(np.median(full)) if len(full) else 0.0
    scale = robust_sigma(full) if len(full) else 1.0
    z_active = standardise(
        mean, count, center, scale, params.window_samples, params.min_window_samples
    )
    active = _channel(
        z_active, segment[active_rows], center, scale, hours, params, params.min_sustain_samples
    )

    i_mean, i_count = rolling_mean(
        np.abs(scaled[idle_rows]), segment[idle_rows], params.idle_window_samples
    )
    i_full = i_mean[i_count == params.idle_window_samples]
    i_scale = max(float(np.std(i_full)) if len(i_full) else 0.0, quantum)
    z_idle = standardise(i_mean, i_count, 0.0, i_scale, params.idle_window_samples, 1)
    idle_channel = _channel(
        z_idle, segment[idle_rows], 0.0, i_scale, hours, params, params.min_idle_sustain_samples
    )
    # MinC/MaxC: the sustained per-sample rise above the level that brings the active
    # window to z_alert / z_error, in scaled units (as the seed's residual limits).
    limits = AxisThresholds(
        z_alert=params.z_alert,
        z_error=params.z_error,
        min_c=(params.z_alert * scale + center) * sigma + median,
        max_c=(params.z_error * scale + center) * sigma + median,
        sustain_samples=active.sustain_alert,
        sustain_s=float(active.sustain_alert * dt_s),
    )
    total = float(np.sum((level_data - level_data.mean()) ** 2))
    return AxisModel(
        axis=axis,
        slope=0.0,
        intercept=level,
        r2=1.0 - float(np.sum(residual**2)) / total if total > 0 else 0.0,
        residual_mu=median,
        residual_sigma=sigma,
        row_count=int(active_rows.sum()),
        thresholds=limits,
        channels={"active": active, "idle": idle_channel},
        quantum=quantum,
    )


def robust_sigma(values: np.ndarray) -> float:
    """MAD-based spread; falls back to the standard deviation, then to a tiny floor."""
    mad = MAD_TO_SIGMA * float(np.median(np.abs(values - np.median(values))))
    if mad > 0:
        return mad
    std = float(np.std(values))
    return std if std > 0 else 1e-12


def _channel(
    z: np.ndarray,
    segment: np.ndarray,
    center: float,
    scale: float,
    hours: float,
    params: RobustSettings,
    floor: int,
) -> ChannelModel:
    breaks = segment_breaks(segment)
    alert = fill_holes(
        np.nan_to_num(z, nan=-np.inf) >= params.z_alert, segment, params.merge_gap_samples
    )
    error = fill_holes(
        np.nan_to_num(z, nan=-np.inf) >= params.z_error, segment, params.merge_gap_samples
    )
    s_alert, rate = sustain_for_budget(run_lengths_of(alert, breaks), hours, params, floor)
    s_error, _ = sustain_for_budget(run_lengths_of(error, breaks), hours, params, floor)
    return ChannelModel(
        center=center,
        scale=scale,
        sustain_alert=s_alert,
        sustain_error=min(s_error, s_alert),
        row_count=len(z),
        train_rate_per_h=rate,
    )


def sustain_for_budget(
    lengths: np.ndarray, hours: float, params: RobustSettings, floor: int
) -> tuple[int, float]:
    """Shortest sustain (samples) whose training run rate per hour is within the budget,
    and the training rate it leaves."""
    candidates = np.arange(floor, max(params.max_sustain_samples, floor) + 1)
    if len(lengths) == 0:
        return floor, 0.0
    ordered = np.sort(lengths)
    rates = (len(ordered) - np.searchsorted(ordered, candidates, side="left")) / hours
    ok = np.flatnonzero(rates <= params.false_alarm_budget_per_h)
    index = int(ok[0]) if len(ok) else len(candidates) - 1
    return int(candidates[index]), float(rates[index])


def rolling_mean(
    values: np.ndarray, segment: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Trailing mean over at most ``window`` samples, restarting where ``segment`` changes.

    Returns the means and the number of samples behind each.
    """
    n = len(values)
    if n == 0:
        return np.array([], dtype="float64"), np.array([], dtype=int)
    index = np.arange(n)
    starts_segment = np.r_[True, np.diff(segment) != 0]
    first = np.maximum.accumulate(np.where(starts_segment, index, 0))
    low = np.maximum(index - window + 1, first)
    cumulative = np.r_[0.0, np.cumsum(values, dtype="float64")]
    count = index - low + 1
    return (cumulative[index + 1] - cumulative[low]) / count, count


def standardise(
    mean: np.ndarray,
    count: np.ndarray,
    center: float,
    scale: float,
    window: int,
    min_count: int,
) -> np.ndarray:
    """z of a trailing mean; a partial window's spread is widened by sqrt(window / count)."""
    widened = scale * np.sqrt(window / np.maximum(count, 1))
    return np.where(count >= min_count, (mean - center) / widened, np.nan)


def segment_breaks(segment: np.ndarray) -> np.ndarray:
    """True where a new gap-free segment starts."""
    breaks = np.zeros(len(segment), dtype=bool)
    if len(segment) > 1:
        breaks[1:] = np.diff(segment) != 0
    return breaks


def fill_holes(mask: np.ndarray, segment: np.ndarray, max_hole: int) -> np.ndarray:
    """Set False stretches of at most ``max_hole`` samples between two Trues of one segment."""
    n = len(mask)
    if n == 0 or max_hole <= 0 or not mask.any():
        return mask.copy()
    index = np.arange(n)
    prev_true = np.maximum.accumulate(np.where(mask, index, -1))
    next_true = np.minimum.accumulate(np.where(mask, index, n)[::-1])[::-1]
    bounded = (prev_true >= 0) & (next_true < n)
    safe_prev, safe_next = np.clip(prev_true, 0, n - 1), np.clip(next_true, 0, n - 1)
    fill = (
        ~mask
        & bounded
        & (next_true - prev_true - 1 <= max_hole)
        & (segment[safe_prev] == segment[safe_next])
    )
    return mask | fill


def run_lengths_of(mask: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Lengths of the True runs of ``mask``, split at ``breaks``."""
    ids = run_ids(mask, breaks)
    return np.bincount(ids[ids >= 0]) if mask.any() else np.array([], dtype=int)
