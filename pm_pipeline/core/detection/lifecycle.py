"""Where an event stands when the readings end: ``open`` or ``resolved``.

An event is resolved once its gap-free stretch of readings goes on for longer than a data
gap (``gap_factor × dt``) after its end: the detector has then seen the readings that ended
it. An event at the end of the data, or followed by a gap, stays open: a gap says nothing
about whether the fault went away.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OPEN, RESOLVED = "open", "resolved"
STATUSES = (OPEN, RESOLVED)


def stretch_ends(times: pd.Series, gap: pd.Timedelta) -> pd.Series:
    """The last time of every gap-free stretch of ``times`` (in time order), oldest first."""
    if times.empty:
        return times.iloc[0:0]
    steps = times.diff().shift(-1)
    return times[(steps > gap) | steps.isna()].reset_index(drop=True)


def event_statuses(events: pd.DataFrame, ends: pd.Series, gap: pd.Timedelta) -> np.ndarray:
    """``open`` or ``resolved`` for each event of ``events`` (columns ``end``).

    Parameters
    ----------
    events
        Events found in readings whose gap-free stretches end at ``ends``.
    ends
        :func:`stretch_ends` of the readings scored.
    gap
        The step beyond which readings are a data gap.
    """
    if events.empty:
        return np.array([], dtype=object)
    end_values = ends.to_numpy(dtype="datetime64[ns]")
    event_end = events["end"].to_numpy(dtype="datetime64[ns]")
    stretch = np.minimum(np.searchsorted(end_values, event_end), len(end_values) - 1)
    resolved = end_values[stretch] > event_end + gap.to_timedelta64()
    return np.where(resolved, RESOLVED, OPEN).astype(object)


def start_no_earlier_than(events: pd.DataFrame, boundary: pd.Timestamp) -> pd.DataFrame:
    """``events`` with every start before ``boundary`` moved to it.

    The stored readings a file's pass replays first include, at most, the model's training
    window: readings that only warm the detector up. An event the pass sees begin in them
    begins, for the files scored, at the first reading after them (see
    :class:`pm_pipeline.services.continuation.ContinuingScorer`).

    Parameters
    ----------
    events
        A pass's events (``start``, ``end``, ``duration_s``).
    boundary
        The first reading scored as a landed file's, not as warm-up.

    Returns
    -------
    pandas.DataFrame
        The same events; those moved have their ``duration_s`` measured from the new start
        (their other figures are the whole run's).
    """
    early = events["start"] < boundary
    if not early.any():
        return events
    moved = events.copy()
    moved.loc[early, "start"] = boundary
    moved.loc[early, "duration_s"] = (moved["end"] - moved["start"])[early].dt.total_seconds()
    return moved
