"""The events frame every detector returns: one row per event, ordered by start time.

``contributions`` says where to look: a JSON object of channel → share of the event's
statistic (shares sum to 1, largest first). A per-axis mode's event is all its axis'
(``{"axis_3": 1.0}``); a multivariate mode names every channel that moved.
"""

from __future__ import annotations

import json

import pandas as pd

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
    "contributions",
)


def sole_contribution(axis: str) -> str:
    """The contributions of an event that is all one axis'."""
    return json.dumps({axis: 1.0})


def contributions_json(shares: dict[str, float]) -> str:
    """Channel shares (any non-negative weights) as the ``contributions`` JSON: normalised
    to sum 1, largest first, zero shares left out."""
    total = sum(shares.values())
    ordered = sorted(shares.items(), key=lambda item: -item[1])
    return json.dumps({name: round(value / total, 4) for name, value in ordered if value > 0})


def events_in_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One events frame from per-axis frames, ordered by start time."""
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return empty_events()
    frames = [_with_contributions(frame) for frame in frames]
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
            "contributions": pd.Series([], dtype=object),
        }
    )


def _with_contributions(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``contributions`` column: each event all its axis' where the
    detector named none."""
    if "contributions" in frame.columns:
        return frame
    return frame.assign(contributions=[sole_contribution(axis) for axis in frame["axis"]])
