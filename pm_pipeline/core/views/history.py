"""Views over a robot's whole history, from its 1-minute rollups, beside the figures that need
every raw reading (cadence, gaps, idle share, p95) measured on its recent days only.

A year of a robot at 0.5 Hz is 15.8 million readings and 525,600 rollup minutes: a view that
counts per hour or finds each axis' extremes reads the minutes, and the recent week of raw
readings answers what minutes cannot.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from pm_pipeline.core.views.health import DataHealth

RECENT_DAYS = 7.0
"""Days of raw readings, up to the newest, that cadence, gaps, idle and NULL shares and the
per-axis percentiles are measured on."""


def count_readings_per_hour(minute_counts: pd.DataFrame) -> pd.Series:
    """Readings per hour (UTC) from per-minute counts (``minute``, ``readings``)."""
    hours = minute_counts["minute"].dt.floor("h").rename(None)
    per_hour = minute_counts["readings"].groupby(hours).sum().sort_index()
    return per_hour.rename("count").rename_axis(None)


def with_history(
    recent: DataHealth,
    minute_counts: pd.DataFrame,
    first: pd.Timestamp | None,
    last: pd.Timestamp | None,
) -> DataHealth:
    """``recent`` (measured on the recent raw readings) with rows, span and readings per hour
    of the whole history: ``minute_counts`` from the rollups, ``first`` and ``last`` the
    robot's first and last reading. Unchanged when there are no rollups."""
    if minute_counts.empty or first is None or last is None:
        return recent
    return replace(
        recent,
        rows=int(minute_counts["readings"].sum()),
        start=first,
        end=last,
        span_s=float((last - first).total_seconds()),
        readings_per_hour=count_readings_per_hour(minute_counts),
    )
