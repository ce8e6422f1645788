"""The quick views engineers reach for: data health, per-axis summaries, events over time.

All figures are vectorised pandas over a canonical readings frame, so Postgres and SQLite
give the same numbers for the same readings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pm_pipeline.core.model.trained import axes_with_data
from pm_pipeline.core.schema import AXES, TIME_COLUMN

GAP_FACTOR = 3.0
"""A step longer than this many median cadences is a gap in the data."""


@dataclass(frozen=True)
class DataHealth:
    """Coverage, cadence, gaps, idle and NULL shares of a readings frame."""

    rows: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    span_s: float
    cadence_median_s: float
    cadence_p95_s: float
    idle_share: float
    null_share: dict[str, float]
    gaps: pd.DataFrame
    readings_per_hour: pd.Series

    def figures(self) -> pd.DataFrame:
        """The scalar figures as ``figure, value`` rows (for CSV and spreadsheets)."""
        rows = [
            ("rows", self.rows),
            ("start", self.start.isoformat() if self.start is not None else ""),
            ("end", self.end.isoformat() if self.end is not None else ""),
            ("span_s", self.span_s),
            ("cadence_median_s", self.cadence_median_s),
            ("cadence_p95_s", self.cadence_p95_s),
            ("gaps", len(self.gaps)),
            ("longest_gap_s", float(self.gaps["seconds"].max()) if len(self.gaps) else 0.0),
            ("idle_share", self.idle_share),
            *((f"null_share_{axis}", share) for axis, share in self.null_share.items()),
        ]
        return pd.DataFrame(rows, columns=["figure", "value"]).astype({"value": str})


def measure_data_health(readings: pd.DataFrame, gap_factor: float = GAP_FACTOR) -> DataHealth:
    """Measure coverage and quality of ``readings``.

    Parameters
    ----------
    readings
        Canonical readings frame (any order).
    gap_factor
        A step longer than ``gap_factor ×`` the median cadence is listed as a gap.

    Returns
    -------
    DataHealth
        Idle means every axis reads exactly 0 A; a NULL axis value is "no load" and counts
        in its axis' NULL share, not as idle. Axes without a single reading (those a robot
        with fewer axes lacks) are left out of the idle test.
    """
    times = readings[TIME_COLUMN].sort_values(ignore_index=True)
    steps = times.diff().dt.total_seconds()
    median = float(steps.median()) if len(times) > 1 else 0.0
    long_steps = steps > gap_factor * median
    gaps = pd.DataFrame(
        {
            "start": times.shift(1)[long_steps].to_numpy(),
            "end": times[long_steps].to_numpy(),
            "seconds": steps[long_steps].to_numpy(),
        }
    )
    axes = readings[list(AXES)]
    present = readings[list(axes_with_data(readings))]
    idle = (present == 0).all(axis=1) if len(present.columns) else pd.Series(False, readings.index)
    return DataHealth(
        rows=len(readings),
        start=times.iloc[0] if len(times) else None,
        end=times.iloc[-1] if len(times) else None,
        span_s=float((times.iloc[-1] - times.iloc[0]).total_seconds()) if len(times) else 0.0,
        cadence_median_s=median,
        cadence_p95_s=float(steps.quantile(0.95)) if len(times) > 1 else 0.0,
        idle_share=float(idle.mean()) if len(readings) else 0.0,
        null_share={axis: float(axes[axis].isna().mean()) for axis in AXES},
        gaps=gaps,
        readings_per_hour=times.dt.floor("h").value_counts().sort_index(),
    )


def summarise_axes(readings: pd.DataFrame, gap_factor: float = GAP_FACTOR) -> pd.DataFrame:
    """Per axis: min, mean, p95 and max current, active share, active ampere-seconds, latest.

    Ampere-seconds count each reading's current for the time until the next reading, but no
    longer than ``gap_factor`` median cadences, so a data gap does not count as load.
    """
    ordered = readings.sort_values(TIME_COLUMN, ignore_index=True)
    steps = ordered[TIME_COLUMN].diff().shift(-1).dt.total_seconds()
    median = float(steps.median()) if len(ordered) > 1 else 0.0
    held = steps.clip(upper=gap_factor * median).fillna(median)
    rows = []
    for axis in AXES:
        values = ordered[axis]
        present = values.dropna()
        last = present.index.max() if len(present) else None
        rows.append(
            {
                "axis": axis,
                "min_A": float(present.min()) if len(present) else np.nan,
                "mean_A": float(present.mean()) if len(present) else np.nan,
                "p95_A": float(present.quantile(0.95)) if len(present) else np.nan,
                "max_A": float(present.max()) if len(present) else np.nan,
                "active_share": float((present > 0).mean()) if len(present) else 0.0,
                "active_ampere_seconds": float((values.fillna(0) * held).sum()),
                "latest_A": float(values[last]) if last is not None else np.nan,
                "latest_at": ordered[TIME_COLUMN][last] if last is not None else pd.NaT,
            }
        )
    return pd.DataFrame(rows)


def find_one_minute_peak(readings: pd.DataFrame) -> tuple[str, float, pd.Timestamp] | None:
    """The axis with the highest current in the last 60 s of data, its value and time."""
    if readings.empty:
        return None
    newest = readings[TIME_COLUMN].max()
    recent = readings[readings[TIME_COLUMN] > newest - pd.Timedelta(seconds=60)]
    stacked = recent.set_index(TIME_COLUMN)[list(AXES)].stack().dropna()
    if stacked.empty:
        return None
    (moment, axis), value = stacked.idxmax(), float(stacked.max())
    return str(axis), value, pd.Timestamp(moment)


def count_events_over_time(events: pd.DataFrame, frequency: str = "1h") -> pd.DataFrame:
    """Event counts per time bucket (rows) and ``axis/severity`` (columns)."""
    if events.empty:
        return pd.DataFrame()
    buckets = events["start_ts"].dt.floor(frequency)
    label = events["axis"] + "/" + events["severity"]
    return pd.crosstab(buckets, label).sort_index()


def count_severities_per_hour(
    events: pd.DataFrame, first: pd.Timestamp | None, last: pd.Timestamp | None
) -> pd.DataFrame:
    """Events starting in each hour (UTC) by severity, every hour from ``first`` to ``last``.

    Parameters
    ----------
    events
        Stored events (``start_ts``, ``severity``).
    first, last
        The span to cover, such as the robot's readings; widened to every event's start.

    Returns
    -------
    pandas.DataFrame
        Columns ``ALERT`` and ``ERROR``, one row per hour; empty when there is no span.
    """
    starts = events["start_ts"].dt.floor("1h")
    ends = [t for t in (first, last, *starts.agg(["min", "max"]).dropna()) if t is not None]
    if not ends:
        return pd.DataFrame(columns=["ALERT", "ERROR"], dtype="int64")
    hours = pd.date_range(min(ends).floor("1h"), max(ends).floor("1h"), freq="1h")
    counts = pd.crosstab(starts, events["severity"]) if len(events) else pd.DataFrame()
    return counts.reindex(index=hours, columns=["ALERT", "ERROR"], fill_value=0)


def rank_top_events(events: pd.DataFrame, count: int = 10) -> pd.DataFrame:
    """The ``count`` events with the highest peak z, with their model versions."""
    columns = [
        "event_id",
        "axis",
        "severity",
        "start_ts",
        "end_ts",
        "z_peak",
        "p_value",
        "model_version",
        "source",
    ]
    return events.nlargest(count, "z_peak")[columns].reset_index(drop=True)
