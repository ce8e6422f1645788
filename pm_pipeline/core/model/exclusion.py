"""Leaving flagged readings out of training, as Elastic ML's ``skip_model_update`` does.

Readings inside a robot's stored events, widened by a margin on both sides, are dropped
from the training window before anything is fitted, so a fault the pipeline has flagged
cannot teach the next model that it is normal (its long runs would otherwise stretch the
sustain time the false-alarm budget picks, and lower the z the fault scores).

Whole rows are dropped, not single axes: every mode reads an axis together with the others
(the robust mode's idle/active state and the cusum mode's prediction of an axis from the
other axes), so a row with one faulty axis is no clean example for any of them. Dropping
rows leaves a hole in time; a hole longer than the model's ``gap_factor`` cadences is a data
gap to every detector's fit (rolling windows restart, runs do not span it), exactly like a
pause in the export. With a margin ``m`` the hole is at least ``2 m`` long.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pm_pipeline.core.schema import TIME_COLUMN

EXCLUDED_READINGS_ATTR = "excluded_readings"
"""Key of ``DataFrame.attrs`` on a training window: readings left out of it (kept when the
frame is stored as Parquet between steps)."""


@dataclass(frozen=True)
class Exclusion:
    """What was left out of one training window."""

    readings: int
    """Rows dropped."""
    spans: pd.DataFrame
    """The merged, widened spans (``start``, ``end``, ``events``) that dropped them."""
    margin_s: float


def widened_spans(events: pd.DataFrame, margin: pd.Timedelta) -> pd.DataFrame:
    """Event spans widened by ``margin`` on both sides, overlapping ones merged.

    Parameters
    ----------
    events
        Columns ``start_ts`` and ``end_ts`` (UTC), in any order.
    margin
        Added before each start and after each end.

    Returns
    -------
    pandas.DataFrame
        ``start``, ``end`` and ``events`` (how many events each span merges), by start.
    """
    if events.empty:
        empty = pd.Series([], dtype="datetime64[us, UTC]")
        return pd.DataFrame({"start": empty, "end": empty, "events": pd.Series([], dtype=int)})
    spans = pd.DataFrame(
        {"start": events["start_ts"] - margin, "end": events["end_ts"] + margin}
    ).sort_values(["start", "end"], ignore_index=True)
    # A span starts a new group unless it begins before every earlier span has ended.
    reach = spans["end"].cummax().shift()
    group = (spans["start"] > reach).cumsum()
    merged = spans.groupby(group).agg(
        start=("start", "min"), end=("end", "max"), events=("start", "size")
    )
    return merged.reset_index(drop=True)


def flagged_rows(times: pd.Series, spans: pd.DataFrame) -> np.ndarray:
    """True for each reading inside one of ``spans`` (bounds included).

    Parameters
    ----------
    times
        Reading times, oldest first.
    spans
        Disjoint ``start``/``end`` spans sorted by start (:func:`widened_spans`).
    """
    stamps = _nanoseconds(times)
    inside = np.zeros(len(stamps) + 1, dtype=int)
    if len(spans):
        first = np.searchsorted(stamps, _nanoseconds(spans["start"]), side="left")
        after = np.searchsorted(stamps, _nanoseconds(spans["end"]), side="right")
        np.add.at(inside, first, 1)
        np.add.at(inside, after, -1)
    return np.cumsum(inside[:-1]) > 0


def _nanoseconds(times: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch, whatever unit the times are stored in."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def exclude_flagged(
    readings: pd.DataFrame, events: pd.DataFrame, margin_s: float
) -> tuple[pd.DataFrame, Exclusion]:
    """The training readings without those inside ``events`` widened by ``margin_s``.

    Parameters
    ----------
    readings
        Canonical readings, oldest first.
    events
        The robot's stored events of landed files (``start_ts``, ``end_ts``).
    margin_s
        Seconds added on both sides of every event: a detector flags a fault a little after
        it starts (its windows fill first) and the fault may outlast the event's end.

    Returns
    -------
    tuple
        The kept readings (index 0…n-1, ``attrs`` carrying the excluded count under
        :data:`EXCLUDED_READINGS_ATTR`) and what was left out.
    """
    spans = widened_spans(events, pd.Timedelta(seconds=margin_s))
    flagged = flagged_rows(readings[TIME_COLUMN], spans)
    kept = readings[~flagged].reset_index(drop=True)
    kept.attrs[EXCLUDED_READINGS_ATTR] = int(flagged.sum())
    return kept, Exclusion(int(flagged.sum()), spans, float(margin_s))


def excluded_readings(readings: pd.DataFrame) -> int:
    """Readings left out of a training window (0 for a frame that never went through
    :func:`exclude_flagged`)."""
    return int(readings.attrs.get(EXCLUDED_READINGS_ATTR, 0))
