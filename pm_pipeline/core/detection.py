"""Turning readings into residual z-scores and z-scores into ALERT/ERROR events.

An event is a contiguous run of readings whose residual z-score stays at or above a level
for at least the axis' sustain time (in samples). Runs never span a data gap. ALERT runs use
``z_alert`` and ERROR runs ``z_error``, so an ERROR sits inside the ALERT that contains it.
The p-value is one-sided: the chance of a mean z at least this high under normal operation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from pm_pipeline.core.model import (
    AxisModel,
    TrainedModel,
    gap_breaks,
    run_ids,
    seconds_since,
)
from pm_pipeline.core.schema import TIME_COLUMN

EVENT_COLUMNS = (
    "axis",
    "severity",
    "start",
    "end",
    "duration_s",
    "z_mean",
    "z_peak",
    "p_value",
    "n_samples",
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


def detect_events(model: TrainedModel, readings: pd.DataFrame) -> pd.DataFrame:
    """Score every axis of ``readings`` and return its events, ordered by start time.

    Parameters
    ----------
    model
        The trained model.
    readings
        Canonical readings frame in amperes.

    Returns
    -------
    pandas.DataFrame
        One row per event with :data:`EVENT_COLUMNS`.
    """
    if model.params.mode == "robust":
        from pm_pipeline.core.robust_detection import detect_events_robust

        frames = detect_events_robust(model, readings)
    else:
        frames = [
            _axis_events(model, model.axes[axis], residual_frame(model, readings, axis))
            for axis in model.axis_names
        ]
    return events_in_order(frames)


def events_in_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One events frame from per-axis frames, ordered by start time."""
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return empty_events()
    events = pd.concat(frames, ignore_index=True)
    return events.sort_values(["start", "axis", "severity"], ignore_index=True)


def empty_events() -> pd.DataFrame:
    """An events frame with no rows and the same column types as a non-empty one."""
    no_times = pd.Series([], dtype="datetime64[us, UTC]")
    return pd.DataFrame(
        {
            "axis": pd.Series([], dtype=object),
            "severity": pd.Series([], dtype=object),
            "start": no_times,
            "end": no_times,
            "duration_s": pd.Series([], dtype="float64"),
            "z_mean": pd.Series([], dtype="float64"),
            "z_peak": pd.Series([], dtype="float64"),
            "p_value": pd.Series([], dtype="float64"),
            "n_samples": pd.Series([], dtype="int64"),
        }
    )


def _axis_events(model: TrainedModel, fitted: AxisModel, scored: pd.DataFrame) -> pd.DataFrame:
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
