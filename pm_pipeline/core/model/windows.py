"""Choosing the training window from configuration."""

from __future__ import annotations

import pandas as pd

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.schema import TIME_COLUMN


def training_window_start(
    start: str | None, last_days: float | None, newest: pd.Timestamp | None
) -> str | None:
    """The window's lower bound: an explicit start, or ``last_days`` before the newest reading.

    Parameters
    ----------
    start
        ISO 8601 timestamp, or None.
    last_days
        Days back from the newest stored reading, or None. Measured from the data, not the
        clock, so an old export still trains.
    newest
        Newest stored reading, or None when the table is empty.

    Returns
    -------
    str or None
        ISO 8601 UTC lower bound, or None for "from the first reading".
    """
    if start is not None and last_days is not None:
        raise PipelineError("config: give either `start` or `last_days` for the window, not both.")
    if start is not None:
        return parse_utc(start, "start").isoformat()
    if last_days is None or newest is None:
        return None
    if last_days <= 0:
        raise PipelineError(f"config: `last_days` must be positive, got {last_days}.")
    return (newest - pd.Timedelta(days=last_days)).isoformat()


def parse_utc(value: str, field: str) -> pd.Timestamp:
    """Parse an ISO 8601 timestamp as UTC; naive values are taken as UTC."""
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        raise PipelineError(
            f"config: `{field}` = {value!r} is not a timestamp; use ISO 8601 such as "
            "2022-10-17T12:00:00Z."
        ) from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def newest_hours(readings: pd.DataFrame, hours: float) -> pd.DataFrame:
    """The readings of the last ``hours`` before the newest one (all of them when they span
    less), in their order.

    Parameters
    ----------
    readings
        Readings with a UTC ``timestamp_recorded`` column.
    hours
        How far back from the newest reading to keep.
    """
    if readings.empty:
        return readings
    times = readings[TIME_COLUMN]
    return readings[times >= times.max() - pd.Timedelta(hours=hours)]
