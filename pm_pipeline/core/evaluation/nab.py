"""SKAB's scores: row-wise F1, FAR and MAR, and NAB's three profiles for changepoints.

A faithful reimplementation of the definitions in SKAB's ``core/metrics.py`` (the ``tsad``
package's ``chp_score``), as its leaderboard computes them:

* **binary**: TP, FP, FN and TN of the row-wise predictions pooled over every file;
  ``F1 = TP / (TP + (FN + FP) / 2)``, FAR = FP / (FP + TN), MAR = FN / (FN + TP), in %.
* **NAB**: each true changepoint opens a detection window ``[t, t + width]`` to its right
  (a window that would overlap the next one starts where the previous one ends). A
  predicted changepoint is a rise or fall of the row-wise prediction. The first predicted
  changepoint inside a window is a true positive worth ``my_scale`` of its place in the
  window (A_tp at the window's start, falling along a tanh towards A_fp at its end); a
  window with none is a miss (A_fn); every predicted changepoint outside all windows is a
  false positive (A_fp). Scores are summed over files and normalised:
  ``100 · (score − null) / (perfect − null)``, with null = windows · A_fn and perfect =
  windows · A_tp.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

PROFILES: dict[str, tuple[float, float, float]] = {
    "standard": (1.0, -0.11, -1.0),
    "low_fp": (1.0, -0.22, -1.0),
    "low_fn": (1.0, -0.11, -2.0),
}
"""NAB application profiles: A_tp, A_fp and A_fn (SKAB's ``table_of_coef``)."""
NAB_WINDOW = pd.Timedelta(seconds=60)
"""SKAB's detection window to the right of each changepoint."""
DETALIZATION = 1000
"""Points of SKAB's scaled-sigmoid scoring curve across one window."""


@dataclass(frozen=True)
class BinaryScores:
    """Row-wise scores pooled over files; FAR and MAR in %."""

    f1: float
    far: float
    mar: float
    tp: int
    fp: int
    fn: int
    tn: int


@dataclass(frozen=True)
class NabScores:
    """NAB scores of the three profiles, in % of the perfect detector's."""

    standard: float
    low_fp: float
    low_fn: float


def binary_scores(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> BinaryScores:
    """F1, FAR and MAR of ``(true, predicted)`` 0/1 row labels, pooled over all pairs."""
    tp = fp = fn = tn = 0
    for true, predicted in pairs:
        truth, alarm = np.asarray(true) == 1, np.asarray(predicted) == 1
        tp += int(np.sum(truth & alarm))
        fp += int(np.sum(~truth & alarm))
        fn += int(np.sum(truth & ~alarm))
        tn += int(np.sum(~truth & ~alarm))
    f1 = tp / (tp + (fn + fp) / 2) if tp + fn + fp else 0.0
    far = 100.0 * fp / (fp + tn) if fp + tn else 0.0
    mar = 100.0 * fn / (fn + tp) if fn + tp else 0.0
    return BinaryScores(f1, far, mar, tp, fp, fn, tn)


def predicted_changepoints(predicted: np.ndarray) -> np.ndarray:
    """Rises and falls of a 0/1 row-wise prediction (the first row counts if it alarms)."""
    alarm = np.asarray(predicted, dtype="int64")
    if not len(alarm):
        return alarm
    return np.r_[alarm[:1], np.abs(np.diff(alarm))]


def detection_windows(
    changepoints: np.ndarray, width: pd.Timedelta
) -> list[tuple[np.datetime64, np.datetime64]]:
    """``[t, t + width]`` right of each true changepoint time, in order; a window that
    overlaps the previous one starts where that one ends (SKAB's "cut right window")."""
    windows = [[t, t + width.to_timedelta64()] for t in np.sort(changepoints)]
    for before, after in pairwise(windows):
        if before[1] >= after[0]:
            after[0] = before[1]
    return [(start, end) for start, end in windows]


def window_score(start, found, end, a_tp: float, a_fp: float) -> float:
    """SKAB's ``my_scale``: a detection at ``found`` in ``[start, end]`` on a tanh from
    ``a_tp`` (at the start) to ``a_fp`` (at the end)."""
    x = np.linspace(-np.pi / 2, np.pi / 2, DETALIZATION)
    curve = (a_tp - a_fp) / 2 * -np.tanh(x) / np.tanh(np.pi / 2) + (a_tp - a_fp) / 2 + a_fp
    place = min(int((found - start) / (end - start) * DETALIZATION), DETALIZATION - 1)
    return float(curve[place])


def file_nab_counts(
    times: np.ndarray, true_changepoints: np.ndarray, predicted: np.ndarray, width: pd.Timedelta
) -> tuple[list[tuple], list[np.datetime64], int]:
    """One file's windows, first detections per window (or None) and false positives."""
    times = np.asarray(times, dtype="datetime64[ns]")
    found = np.sort(times[predicted_changepoints(predicted) == 1])
    windows = detection_windows(times[np.asarray(true_changepoints) == 1], width)
    inside = np.zeros(len(found), dtype=bool)
    firsts = []
    for start, end in windows:
        hits = (found >= start) & (found <= end)
        inside |= hits
        firsts.append(found[hits][0] if hits.any() else None)
    return windows, firsts, int(np.sum(~inside))


def nab_scores(
    files: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
    width: pd.Timedelta = NAB_WINDOW,
) -> NabScores:
    """NAB standard, low-FP and low-FN scores of ``(times, true changepoints, predicted
    row labels)`` per file, summed over files as SKAB's ``chp_score`` does."""
    totals = {name: np.zeros(3) for name in PROFILES}
    for times, true_changepoints, predicted in files:
        windows, firsts, false_positives = file_nab_counts(
            times, true_changepoints, predicted, width
        )
        for name, (a_tp, a_fp, a_fn) in PROFILES.items():
            score = a_fp * false_positives
            for (start, end), first in zip(windows, firsts, strict=True):
                score += a_fn if first is None else window_score(start, first, end, a_tp, a_fp)
            totals[name] += (score, len(windows) * a_fn, len(windows) * a_tp)
    normalised = {
        name: round(float(100 * (score - null) / (perfect - null)), 2) if perfect != null else 0.0
        for name, (score, null, perfect) in totals.items()
    }
    return NabScores(**normalised)
