"""Scoring detected events against injected ground-truth windows."""

from __future__ import annotations

import pandas as pd


def match_injections(events: pd.DataFrame, injected: pd.DataFrame) -> pd.DataFrame:
    """Mark each injected window as caught or missed.

    An alert-level window is caught by any event on its axis that overlaps it; an error-level
    window only by an overlapping ERROR event.

    Parameters
    ----------
    events
        Detected events (``axis, severity, start, end``).
    injected
        Ground truth (``axis, level, start, end``).

    Returns
    -------
    pandas.DataFrame
        ``injected`` plus ``caught`` (bool) and ``detect_delay_s`` (seconds from the window's
        start to the first qualifying event's start, floored at 0; NaN when missed).
    """
    caught, delays = [], []
    for window in injected.itertuples(index=False):
        hits = events[
            (events["axis"] == window.axis)
            & (events["start"] <= window.end)
            & (events["end"] >= window.start)
        ]
        if window.level == "ERROR":
            hits = hits[hits["severity"] == "ERROR"]
        caught.append(bool(len(hits)))
        delay = (hits["start"].min() - window.start).total_seconds() if len(hits) else float("nan")
        delays.append(max(delay, 0.0) if len(hits) else delay)
    return injected.assign(caught=caught, detect_delay_s=delays)


def recall(matched: pd.DataFrame, level: str | None = None) -> float:
    """Share of injected windows caught, optionally for one level only; 1.0 if there are none."""
    rows = matched if level is None else matched[matched["level"] == level]
    return float(rows["caught"].mean()) if len(rows) else 1.0
