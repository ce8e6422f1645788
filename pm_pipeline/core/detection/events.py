"""The events frame every detector returns: one row per event, ordered by start time.

``contributions`` says which channels moved: a JSON object ``{channel: share}``, largest
first, shares summing to 1. A mode that scores each axis alone gives its own axis all of it.
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


def own_axis_contributions(events: pd.DataFrame) -> pd.DataFrame:
    """``events`` with ``contributions`` set to ``{axis: 1.0}`` where a detector left it out
    (the modes that score each axis alone)."""
    if "contributions" in events and events["contributions"].notna().all():
        return events
    own = events["axis"].map(lambda axis: json.dumps({axis: 1.0}))
    filled = events["contributions"].fillna(own) if "contributions" in events else own
    return events.assign(contributions=filled.astype(object))


def events_in_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One events frame from per-axis frames, ordered by start time."""
    frames = [own_axis_contributions(frame) for frame in frames if len(frame)]
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
            "contributions": pd.Series([], dtype=object),
        }
    )
