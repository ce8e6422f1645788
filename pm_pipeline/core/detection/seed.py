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
from scipy.stats import norm
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

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
    line = LinearRegression().fit(x, y)
    predicted = line.predict(x)
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
        slope=float(line.coef_[0]),
        intercept=float(line.intercept_),
        r2=float(r2_score(y, predicted)),
        residual_mu=mu,
        residual_sigma=sigma,
        row_count=int(len(y)),
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
    fitted = model.axes[axis]
    present = readings[[TIME_COLUMN, axis]].dropna().sort_values(TIME_COLUMN, kind="stable")
    seconds = seconds_since(present[TIME_COLUMN], model.epoch_ts)
    scaled = model.scaling.scale(axis, present[axis])
    predicted = fitted.slope * seconds + fitted.intercept
    residual = scaled - predicted
    return pd.DataFrame(
        {
            TIME_COLUMN: present[TIME_COLUMN].reset_index(drop=True),
            "seconds": seconds,
            "scaled": scaled,
            "predicted": predicted,
            "residual": residual,
            "z": (residual - fitted.residual_mu) / fitted.residual_sigma,
        }
    )


def axis_events(model: TrainedModel, fitted: AxisModel, scored: pd.DataFrame) -> pd.DataFrame:
    """ALERT and ERROR runs of one axis' scored samples (see :func:`residual_frame`)."""
    breaks = gap_breaks(scored["seconds"].to_numpy(), model.dt_s, model.params.gap_factor)
    levels = (("ALERT", fitted.thresholds.z_alert), ("ERROR", fitted.thresholds.z_error))
    frames = [_runs_at_level(scored, breaks, fitted, severity, level) for severity, level in levels]
    return pd.concat(frames, ignore_index=True)


def _runs_at_level(
    scored: pd.DataFrame, breaks: np.ndarray, fitted: AxisModel, severity: str, level: float
) -> pd.DataFrame:
    z = scored["z"].to_numpy()
    ids = run_ids(z >= level, breaks)
    inside = ids >= 0
    if not inside.any():
        return empty_events()
    runs = (
        pd.DataFrame(
            {
                "run": ids[inside],
                "t": scored[TIME_COLUMN][inside].reset_index(drop=True),
                "z": z[inside],
            }
        )
        .groupby("run")
        .agg(
            start=("t", "first"),
            end=("t", "last"),
            z_mean=("z", "mean"),
            z_peak=("z", "max"),
            n_samples=("z", "size"),
        )
    )
    runs = runs[runs["n_samples"] >= fitted.thresholds.sustain_samples]
    return pd.DataFrame(
        {
            "axis": fitted.axis,
            "severity": severity,
            "start": runs["start"].reset_index(drop=True),
            "end": runs["end"].reset_index(drop=True),
            "duration_s": (runs["end"] - runs["start"]).dt.total_seconds().to_numpy(),
            "z_mean": runs["z_mean"].to_numpy(),
            "z_peak": runs["z_peak"].to_numpy(),
            "p_value": norm.sf(runs["z_mean"].to_numpy()),
            "n_samples": runs["n_samples"].to_numpy(dtype="int64"),
        }
    )
