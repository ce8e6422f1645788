"""Scoring in the ``robust`` mode: one event per anomalous stretch, escalated in place.

Per channel (active, idle), samples with ``z ≥ z_alert`` form runs; holes of at most
``merge_gap_samples`` are filled; runs never cross a data gap and rolling windows restart
after one. A run is an event once it lasts the channel's sustain time. It is an ERROR (the
same event, escalated) when it holds a run at ``z ≥ z_error`` lasting the error sustain
time. Overlapping events of the two channels of one axis are merged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from pm_pipeline.core.model import TrainedModel, gap_breaks, run_ids, seconds_since
from pm_pipeline.core.robust_fit import (
    CHANNELS,
    fill_holes,
    idle_mask,
    rolling_mean,
    segment_breaks,
    standardise,
)
from pm_pipeline.core.schema import AXES, TIME_COLUMN


def score_axis(model: TrainedModel, readings: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Per-row channel and z of one axis (rows with a blank value are left out).

    Returns
    -------
    pandas.DataFrame
        ``timestamp_recorded, seconds, channel, scaled, z, segment``, time-ordered.
    """
    params, fitted = model.params, model.axes[axis]
    assert fitted.channels is not None, "score_axis needs a robust-mode model"
    readings = readings.sort_values(TIME_COLUMN, kind="stable").reset_index(drop=True)
    seconds = seconds_since(readings[TIME_COLUMN], model.epoch_ts)
    segment = np.cumsum(gap_breaks(seconds, model.dt_s, params.gap_factor))
    idle = idle_mask(readings, params.idle_other_max)[axis]
    scaled = model.scaling.scale(axis, readings[axis])
    present = np.isfinite(scaled)
    z = np.full(len(readings), np.nan)
    active, quiet = present & ~idle, present & idle
    residual = scaled[active] - (fitted.slope * seconds[active] + fitted.intercept)
    z_sample = np.clip(
        (residual - fitted.residual_mu) / fitted.residual_sigma, -params.z_clip, params.z_clip
    )
    mean, count = rolling_mean(z_sample, segment[active], params.window_samples)
    channel = fitted.channels["active"]
    z[active] = standardise(
        mean, count, channel.center, channel.scale, params.window_samples, params.min_window_samples
    )
    i_mean, i_count = rolling_mean(
        np.abs(scaled[quiet]), segment[quiet], params.idle_window_samples
    )
    z[quiet] = standardise(
        i_mean, i_count, 0.0, fitted.channels["idle"].scale, params.idle_window_samples, 1
    )
    frame = pd.DataFrame(
        {
            TIME_COLUMN: readings[TIME_COLUMN],
            "seconds": seconds,
            "channel": np.where(idle, "idle", "active"),
            "scaled": scaled,
            "z": z,
            "segment": segment,
        }
    )
    return frame[present].reset_index(drop=True)


def detect_events_robust(model: TrainedModel, readings: pd.DataFrame) -> list[pd.DataFrame]:
    """Per-axis event frames of a robust-mode model (empty axes left out)."""
    frames = []
    for axis in AXES:
        scored = score_axis(model, readings, axis)
        parts = [
            _channel_runs(model, axis, scored[scored["channel"] == name], name) for name in CHANNELS
        ]
        parts = [part for part in parts if len(part)]
        if parts:
            frames.append(_merge_overlaps(pd.concat(parts, ignore_index=True)))
    return frames


def _channel_runs(model: TrainedModel, axis: str, scored: pd.DataFrame, name: str) -> pd.DataFrame:
    params = model.params
    channels = model.axes[axis].channels or {}
    channel = channels[name]
    if scored.empty:
        return pd.DataFrame()
    z = np.nan_to_num(scored["z"].to_numpy(), nan=-np.inf)
    segment = scored["segment"].to_numpy()
    breaks = segment_breaks(segment)
    ids = run_ids(fill_holes(z >= params.z_alert, segment, params.merge_gap_samples), breaks)
    inside = ids >= 0
    if not inside.any():
        return pd.DataFrame()
    error = fill_holes(z >= params.z_error, segment, params.merge_gap_samples)
    error_ids = run_ids(error, breaks)
    sustained_error = np.zeros(len(z), dtype=bool)
    if error.any():
        lengths = np.bincount(error_ids[error_ids >= 0])
        sustained_error[error_ids >= 0] = lengths[error_ids[error_ids >= 0]] >= (
            channel.sustain_error
        )
    runs = (
        pd.DataFrame(
            {
                "run": ids[inside],
                "t": scored[TIME_COLUMN][inside].reset_index(drop=True),
                # A filled hole has no score of its own; it counts at the alert level.
                "z": np.where(
                    np.isfinite(z[inside]), np.maximum(z[inside], params.z_alert), params.z_alert
                ),
                "error": sustained_error[inside],
            }
        )
        .groupby("run")
        .agg(
            start=("t", "first"),
            end=("t", "last"),
            z_sum=("z", "sum"),
            z_peak=("z", "max"),
            n_samples=("z", "size"),
            error=("error", "any"),
        )
    )
    runs = runs[runs["n_samples"] >= channel.sustain_alert].reset_index(drop=True)
    # Not "axis": that name would clash with the axis argument of DataFrame.agg.
    return runs.assign(axis_name=axis)


def _merge_overlaps(runs: pd.DataFrame) -> pd.DataFrame:
    """Union of overlapping runs of one axis (both channels) into single events."""
    runs = runs.sort_values("start", ignore_index=True)
    group = (runs["start"] > runs["end"].cummax().shift()).cumsum()
    merged = runs.groupby(group).agg(
        axis_name=("axis_name", "first"),
        start=("start", "min"),
        end=("end", "max"),
        z_sum=("z_sum", "sum"),
        z_peak=("z_peak", "max"),
        n_samples=("n_samples", "sum"),
        error=("error", "any"),
    )
    z_mean = merged["z_sum"].to_numpy() / merged["n_samples"].to_numpy()
    return pd.DataFrame(
        {
            "axis": merged["axis_name"].to_numpy(),
            "severity": np.where(merged["error"].to_numpy(), "ERROR", "ALERT"),
            "start": merged["start"].reset_index(drop=True),
            "end": merged["end"].reset_index(drop=True),
            "duration_s": (merged["end"] - merged["start"]).dt.total_seconds().to_numpy(),
            "z_mean": z_mean,
            "z_peak": merged["z_peak"].to_numpy(dtype="float64"),
            "p_value": norm.sf(z_mean),
            "n_samples": merged["n_samples"].to_numpy(dtype="int64"),
        }
    )
