"""Scoring detected events against injected ground-truth windows."""

from __future__ import annotations

import json

import pandas as pd

NAMED_SHARE = 0.25
"""A multivariate event counts for an axis other than its top contributor when that axis
carries at least this share of its statistic (two faults at once split it about evenly)."""


def names_axis(events: pd.DataFrame, axis: str) -> pd.Series:
    """Whether each event is on ``axis``: its axis, or a contributor with at least
    :data:`NAMED_SHARE` of the event (``contributions``, where the frame has it)."""
    named = events["axis"] == axis
    if "contributions" in events.columns and len(events):
        shares = events["contributions"].map(lambda text: json.loads(str(text)).get(axis, 0.0))
        named = named | (shares >= NAMED_SHARE)
    return named


def match_injections(events: pd.DataFrame, injected: pd.DataFrame) -> pd.DataFrame:
    """Mark each injected window as caught or missed.

    An alert-level window is caught by any event on its axis (see :func:`names_axis`) that
    overlaps it; an error-level window only by an overlapping ERROR event.

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
            names_axis(events, str(window.axis))
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


def score_injection(events: pd.DataFrame, window: dict, hours: float) -> dict:
    """Event-level and range-based figures of one injected fault.

    Parameters
    ----------
    events
        Detected events on the injected copy.
    window
        Ground truth from :mod:`pm_pipeline.core.faults` (``axis, start, end, onset``).
    hours
        Length of the scored readings.

    Returns
    -------
    dict
        ``caught``, ``delay_s`` (first overlapping event's start − onset, floored at 0),
        ``false_events`` (events not overlapping the window), ``clean_hours``, and the seconds
        of window covered by events (``covered_s``) against ``window_s`` and total event time.
    """
    hits_mask = (
        (events["axis"] == window["axis"])
        & (events["start"] <= window["end"])
        & (events["end"] >= window["start"])
    )
    hits = events[hits_mask]
    window_s = (window["end"] - window["start"]).total_seconds()
    delay = (
        max((hits["start"].min() - window["onset"]).total_seconds(), 0.0)
        if len(hits)
        else float("nan")
    )
    covered = _covered_seconds(hits, window["start"], window["end"])
    durations = (events["end"] - events["start"]).dt.total_seconds().clip(lower=1.0)
    return {
        "caught": bool(len(hits)),
        "delay_s": delay,
        "false_events": int(len(events) - len(hits)),
        "clean_hours": hours - window_s / 3600,
        "covered_s": covered,
        "window_s": window_s,
        "event_s_total": float(durations.sum()),
    }


def _covered_seconds(hits: pd.DataFrame, low: pd.Timestamp, high: pd.Timestamp) -> float:
    """Seconds of ``[low, high]`` covered by the union of the events' spans."""
    if hits.empty:
        return 0.0
    spans = pd.DataFrame(
        {
            "start": hits["start"].where(hits["start"] > low, low),
            "end": hits["end"].where(hits["end"] < high, high),
        }
    ).sort_values("start")
    group = (spans["start"] > spans["end"].cummax().shift()).cumsum()
    merged = spans.groupby(group).agg(start=("start", "min"), end=("end", "max"))
    return max(float((merged["end"] - merged["start"]).dt.total_seconds().sum()), 1.0)


def summarise_quality(
    results: pd.DataFrame, clean_events: pd.DataFrame, hours: float, axes: int = 8
) -> dict[str, float]:
    """Detection quality of one detector over many injections.

    Parameters
    ----------
    results
        One :func:`score_injection` row per injection, plus a ``kind`` column.
    clean_events
        Events on the uninjected readings: every one is a false alarm.
    hours
        Length of the uninjected readings.
    axes
        Axes scored, for the per-axis-per-day rate.

    Returns
    -------
    dict
        Recall overall and per kind, false events per hour and per axis per day, median time
        to detect (minutes), and range-based recall and precision.
    """
    caught = results[results["caught"]]
    figures = {"recall": float(results["caught"].mean())}
    for kind, group in results.groupby("kind", sort=False):
        figures[f"recall_{kind}"] = float(group["caught"].mean())
    figures.update(
        {
            "false_events_per_hour": len(clean_events) / hours,
            "false_events_per_axis_day": len(clean_events) / hours * 24 / axes,
            "false_events_per_hour_outside_windows": float(
                results["false_events"].sum() / results["clean_hours"].sum()
            ),
            "median_minutes_to_detect": float(caught["delay_s"].median() / 60)
            if len(caught)
            else float("nan"),
            "range_recall": float((results["covered_s"] / results["window_s"]).mean()),
            "range_precision": float(results["covered_s"].sum() / results["event_s_total"].sum())
            if results["event_s_total"].sum()
            else 0.0,
        }
    )
    return figures
