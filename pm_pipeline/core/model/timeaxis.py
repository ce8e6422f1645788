"""The model's time axis: seconds since its epoch, the cadence, data gaps and runs of samples."""

from __future__ import annotations

import numpy as np
import pandas as pd


def seconds_since(times: pd.Series, epoch: pd.Timestamp) -> np.ndarray:
    """Seconds from the model epoch to each timestamp."""
    return (times - epoch).dt.total_seconds().to_numpy(dtype="float64")


def cadence_seconds(times: pd.Series) -> float:
    """The median step between consecutive readings."""
    steps = times.sort_values().diff().dt.total_seconds().dropna()
    steps = steps[steps > 0]
    return float(steps.median()) if len(steps) else 1.0


def gap_breaks(seconds: np.ndarray, dt_s: float, gap_factor: float) -> np.ndarray:
    """True where a reading follows a data gap (a step over ``gap_factor × dt``)."""
    breaks = np.zeros(len(seconds), dtype=bool)
    if len(seconds) > 1:
        breaks[1:] = np.diff(seconds) > gap_factor * dt_s
    return breaks


def run_ids(mask: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Label contiguous True stretches of ``mask`` (split at ``breaks``); -1 outside runs."""
    starts = mask & (np.r_[True, ~mask[:-1]] | breaks) if len(mask) else mask
    ids = np.cumsum(starts) - 1
    return np.where(mask, ids, -1)


def run_lengths(mask: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Lengths, in samples, of each contiguous True stretch of ``mask``."""
    ids = run_ids(mask, breaks)
    return np.bincount(ids[ids >= 0]) if mask.any() else np.array([], dtype=int)
