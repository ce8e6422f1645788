"""The ``seed`` mode, the original recipe: per-sample residual z-scores against a line on time.

An event is a contiguous run of readings whose residual z-score stays at or above a level
for at least the axis' sustain time (in samples). Runs never span a data gap. ALERT runs use
``z_alert`` and ERROR runs ``z_error``, so an ERROR sits inside the ALERT that contains it.
The p-value is one-sided: the chance of a mean z at least this high under normal operation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.events import empty_events
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.timeaxis import gap_breaks, run_ids, run_lengths, seconds_since
from pm_pipeline.core.model.trained import (
    MIN_TRAINING_ROWS,
    AxisModel,
    AxisThresholds,
    MinMaxScaling,
    TrainedModel,
)
from pm_pipeline.core.schema import TIME_COLUMN


def fit_seed_axes(
    readings: pd.DataFrame,
    seconds: np.ndarray,
    scaling: MinMaxScaling,
    dt_s: float,
    params: SeedSettings,
) -> dict[str, AxisModel]:
    """One least-squares line per axis of ``scaling`` on time-ordered training readings."""
    return {
        axis: _fit_axis(axis, seconds, scaling.scale(axis, readings[axis]), dt_s, params)
        for axis in scaling.minimums
    }


def detect_events_seed(model: TrainedModel, readings: pd.DataFrame) -> list[pd.DataFrame]:
    """Per-axis event frames of a seed-mode model over one in-memory frame."""
    return [
        axis_events(model, model.axes[axis], residual_frame(model, readings, axis))
        for axis in model.axis_names
    ]


def _fit_axis(
    axis: str, seconds: np.ndarray, scaled: np.ndarray, dt_s: float, params: SeedSettings
) -> AxisModel:
    present = np.isfinite(scaled)
    x, y = seconds[present].reshape(-1, 1), scaled[present]
    if len(y) < MIN_TRAINING_ROWS:
        raise PipelineError(
            f"column {axis!r}: only {len(y)} non-blank readings in the training window; "
            f"need at least {MIN_TRAINING_ROWS}."
        )
    slope, intercept = _least_squares_line(x[:, 0], y)
    predicted = slope * x[:, 0] + intercept
    residual = y - predicted
    mu, sigma = float(residual.mean()), float(residual.std())
    sigma = sigma if sigma > 0 else 1e-12
    z = (residual - mu) / sigma
    gap = gap_breaks(seconds[present], dt_s, params.gap_factor)
    lengths = run_lengths(z >= params.z_alert, gap)
    sustain = params.min_sustain_samples
    if len(lengths):
        sustain = max(sustain, math.ceil(np.percentile(lengths, params.sustain_percentile)))
    thresholds = AxisThresholds(
        z_alert=params.z_alert,
        z_error=params.z_error,
        min_c=params.z_alert * sigma,
        max_c=params.z_error * sigma,
        sustain_samples=int(sustain),
        sustain_s=float(sustain * dt_s),
    )
    return AxisModel(
        axis=axis,
        slope=float(slope),
        intercept=float(intercept),
        r2=_r2(y, predicted),
        residual_mu=mu,
        residual_sigma=sigma,
        row_count=len(y),
        thresholds=thresholds,
    )


def residual_frame(model: TrainedModel, readings: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Scaled values, the model line, residuals and z-scores of one axis.

    Parameters
    ----------
    model
        The trained model; time is measured from its epoch.
    readings
        Canonical readings frame; rows with a blank value on ``axis`` are left out.
    axis
        Column name such as ``axis_3``.

    Returns
    -------
    pandas.DataFrame
        Columns ``timestamp_recorded, seconds, scaled, predicted, residual, z``, time-ordered.
    """
    present = readings[[TIME_COLUMN, axis]].dropna().sort_values(TIME_COLUMN, kind="stable")
    seconds = seconds_since(present[TIME_COLUMN], model.epoch_ts)
    scaled, predicted, residual, z = line_scores(model, axis, seconds, present[axis])
    return pd.DataFrame(
        {
            TIME_COLUMN: present[TIME_COLUMN].reset_index(drop=True),
            "seconds": seconds,
            "scaled": scaled,
            "predicted": predicted,
            "residual": residual,
            "z": z,
        }
    )


def line_scores(
    model: TrainedModel, axis: str, seconds: np.ndarray, amperes: np.ndarray | pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scaled values, the line, residuals and z of one axis' readings (none blank)."""
    fitted = model.axes[axis]
    scaled = model.scaling.scale(axis, amperes)
    predicted = fitted.slope * seconds + fitted.intercept
    residual = scaled - predicted
    return scaled, predicted, residual, (residual - fitted.residual_mu) / fitted.residual_sigma


def axis_events(model: TrainedModel, fitted: AxisModel, scored: pd.DataFrame) -> pd.DataFrame:
    """ALERT and ERROR runs of one axis' scored samples (see :func:`residual_frame`)."""
    breaks = gap_breaks(scored["seconds"].to_numpy(), model.dt_s, model.params.gap_factor)
    levels = (("ALERT", fitted.thresholds.z_alert), ("ERROR", fitted.thresholds.z_error))
    frames = [_runs_at_level(scored, breaks, fitted, severity, level) for severity, level in levels]
    # Empty frames are left out so the columns keep one dtype however the runs fall.
    frames = [frame for frame in frames if len(frame)]
    return pd.concat(frames, ignore_index=True) if frames else empty_events()


def _runs_at_level(
    scored: pd.DataFrame, breaks: np.ndarray, fitted: AxisModel, severity: str, level: float
) -> pd.DataFrame:
    z = scored["z"].to_numpy()
    ids = run_ids(z >= level, breaks)
    rows = np.flatnonzero(ids >= 0)
    if not len(rows):
        return empty_events()
    # Run ids are consecutive along the rows, so each run is one slice: reduceat sums it.
    first = np.r_[0, np.flatnonzero(np.diff(ids[rows])) + 1]
    samples = np.diff(np.r_[first, len(rows)])
    keep = samples >= fitted.thresholds.sustain_samples
    if not keep.any():
        return empty_events()
    times = scored[TIME_COLUMN]
    start = times.iloc[rows[first[keep]]].reset_index(drop=True)
    end = times.iloc[rows[first[keep] + samples[keep] - 1]].reset_index(drop=True)
    z_mean = np.add.reduceat(z[rows], first)[keep] / samples[keep]
    from scipy.special import ndtr  # deferred: see the package docstring

    return pd.DataFrame(
        {
            "axis": fitted.axis,
            "severity": severity,
            "start": start,
            "end": end,
            "duration_s": (end - start).dt.total_seconds().to_numpy(),
            "z_mean": z_mean,
            "z_peak": np.maximum.reduceat(z[rows], first)[keep],
            "p_value": ndtr(-z_mean),  # the normal survival function
            "n_samples": samples[keep].astype("int64"),
        }
    )


def _least_squares_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Ordinary least squares of ``y`` on ``x``, solved as scikit-learn's ``LinearRegression``
    solves it (centred data, LAPACK's least squares), so a model fitted on the same readings
    keeps the version it had when scikit-learn fitted it."""
    x_offset, y_offset = np.average(x), np.average(y)
    from scipy.linalg import lstsq  # deferred: see the package docstring

    result = lstsq((x - x_offset)[:, None], y - y_offset, cond=1e-6)
    assert result is not None  # SciPy's stubs allow None; it returns a tuple for every input
    coefficient = np.asarray(result[0])[0]
    return float(coefficient), float(y_offset - x_offset * coefficient)


def _r2(y: np.ndarray, predicted: np.ndarray) -> float:
    """The coefficient of determination (1 for a constant ``y`` fitted exactly)."""
    total = float(((y - y.mean()) ** 2).sum())
    residual = float(((y - predicted) ** 2).sum())
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return 1.0 - residual / total
