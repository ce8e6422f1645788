"""The upper CUSUM of standardised scores, its excursions, and a threshold from a budget.

``S_t = max(0, S_{t-1} + u_t - k)`` starts at 0 and restarts at every data gap. It is
computed without a Python loop over samples: with ``C`` the cumulative sum of ``u - k``,
``S_t = C_t - min(0, min_{s<=t} C_s)`` (the Lindley recursion). An *excursion* is a stretch
where ``S > 0``. One that reaches ``h`` is an alarm; it closes when ``S`` has fallen ``h``
below its highest point since (the shift is over), and its peak marks the fault's end.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Excursion:
    """An alarm: samples ``start``…``peak`` carry the shift; ``height`` is ``S`` at the peak."""

    start: int
    peak: int
    height: float


def lindley(increments: np.ndarray) -> np.ndarray:
    """``S`` after each increment, starting from 0."""
    if len(increments) == 0:
        return np.array([], dtype="float64")
    total = np.cumsum(increments)
    return total - np.minimum(np.minimum.accumulate(total), 0.0)


def segment_starts(segment: np.ndarray) -> np.ndarray:
    """Positions where a new gap-free segment begins (always including 0 when non-empty)."""
    if len(segment) == 0:
        return np.array([], dtype=int)
    return np.flatnonzero(np.r_[True, np.diff(segment) != 0])


def alarms(
    increments: np.ndarray, segment: np.ndarray, h: float
) -> tuple[np.ndarray, list[Excursion]]:
    """The path of ``S`` and its alarms; after an alarm closes, ``S`` restarts at 0.

    Returns
    -------
    tuple
        ``S`` per sample (0 where a closed alarm restarted it) and the alarms in order; the
        last one may still be open when its segment is the last.
    """
    path = np.zeros(len(increments))
    found: list[Excursion] = []
    bounds = [*segment_starts(segment), len(increments)]
    for low, high in itertools.pairwise(bounds):
        begin = low
        while begin < high:
            s = lindley(increments[begin:high])
            path[begin:high] = s
            over = np.flatnonzero(s >= h)
            if not len(over):
                break
            alarm = int(over[0])
            zeros = np.flatnonzero(s[:alarm] <= 0)
            start = int(zeros[-1]) + 1 if len(zeros) else 0
            top = np.maximum.accumulate(s[alarm:])
            dropped = np.flatnonzero(s[alarm:] <= top - h)
            end = alarm + int(dropped[0]) if len(dropped) else len(s)
            peak = start + int(np.argmax(s[start:end]))
            found.append(Excursion(begin + start, begin + peak, float(s[peak])))
            if not len(dropped):
                break
            path[begin + end] = 0.0
            begin += end + 1
    return path, found


def lindley_by_segment(increments: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """``S`` after each increment, restarting at 0 at every data gap (no alarm restarts)."""
    path = np.zeros(len(increments))
    bounds = [*segment_starts(segment), len(increments)]
    for low, high in itertools.pairwise(bounds):
        path[low:high] = lindley(increments[low:high])
    return path


def excursion_heights(increments: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """The highest ``S`` of every excursion (no alarm restarts), for calibration."""
    heights = []
    bounds = [*segment_starts(segment), len(increments)]
    for low, high in itertools.pairwise(bounds):
        s = lindley(increments[low:high])
        positive = s > 0
        if positive.any():
            firsts = np.flatnonzero((positive & np.r_[True, ~positive[:-1]])[positive])
            heights.append(np.maximum.reduceat(s[positive], firsts))
    return np.concatenate(heights) if heights else np.array([], dtype="float64")


def threshold_for_budget(
    heights: np.ndarray, hours: float, budget_per_h: float, floor: float, tail: int = 20
) -> tuple[float, float]:
    """The alarm level ``h`` whose rate on the training window is about ``budget_per_h``.

    The highest excursions are fitted with an exponential tail (peaks over a threshold, the
    CUSUM's own tail shape), so the level can be set for rates far below one per training
    window. Never below ``floor``.

    Returns
    -------
    tuple
        ``h`` and the training rate per hour it leaves (extrapolated).
    """
    hours = max(hours, 1e-9)
    ordered = np.sort(heights)[::-1]
    if len(ordered) < 3:
        return floor, 0.0
    count = min(tail, len(ordered) - 1)
    base = float(ordered[count])
    excess = float(np.mean(ordered[:count] - base))
    if excess <= 0:
        return max(base, floor), 0.0
    decay = 1.0 / excess
    rate_at_base = count / hours
    h = base + max(np.log(rate_at_base / budget_per_h), 0.0) / decay
    h = max(h, floor)
    return float(h), float(rate_at_base * np.exp(-decay * (h - base)))
