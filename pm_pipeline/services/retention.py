"""Readings that age out: the nightly upkeep of our readings store and its rollups.

One run makes the monthly partitions ahead (Postgres), then removes the readings older than
``PM_RETENTION_DAYS`` and the rollups older than ``PM_ROLLUP_RETENTION_DAYS``: whole
partitions on Postgres, rows on SQLite. ``pm-pipeline db retain`` and the nightly
``readings_retention_schedule`` both run :func:`retain_readings`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from pm_pipeline.config.settings import Settings
from pm_pipeline.db.partitions import drop_detached_months, ensure_months_ahead
from pm_pipeline.db.retention import Removed, remove_before
from pm_pipeline.db.schema import readings_minute, readings_table, time_column_of


@dataclass(frozen=True)
class RetentionPolicy:
    """How long readings and rollups are kept (None: for ever), and how many monthly
    partitions are made ahead."""

    readings_days: float | None = None
    rollup_days: float | None = None
    months_ahead: int = 3

    @classmethod
    def of(cls, settings: Settings) -> RetentionPolicy:
        """The policy ``PM_RETENTION_DAYS``, ``PM_ROLLUP_RETENTION_DAYS`` and
        ``PM_PARTITIONS_AHEAD_MONTHS`` set."""
        return cls(
            settings.retention_days,
            settings.rollup_retention_days,
            settings.partitions_ahead_months,
        )


@dataclass(frozen=True)
class RetentionReport:
    """What one run did: the partitions made, and what each table lost before its cutoff."""

    created: tuple[str, ...]
    removed: tuple[Removed, ...]
    cutoffs: dict[str, pd.Timestamp]
    locked_seconds: float = 0.0
    """How long the one transaction that changes the tables took (the readings' lock)."""

    def lines(self) -> list[str]:
        """One line per table and one for the partitions made, for the CLI and the run log."""
        found = []
        for removed in self.removed:
            cutoff = f"{self.cutoffs[removed.table]:%Y-%m-%d %H:%M} UTC"
            parts = ", ".join(removed.partitions) or "no partition"
            found.append(
                f"{removed.table}: kept from {cutoff}; dropped {parts}, "
                f"deleted {removed.rows} row(s)"
            )
        kept = sorted({"pm_readings", readings_minute.name} - set(self.cutoffs))
        found += [f"{table}: kept for ever (no retention set)" for table in kept]
        made = ", ".join(self.created) or "none needed"
        found.append(f"partitions made ahead: {made}")
        return found


def retain_readings(
    engine: Engine, policy: RetentionPolicy, now: pd.Timestamp | None = None
) -> RetentionReport:
    """Make partitions ahead and remove readings and rollups past their retention.

    One short transaction makes the partitions and detaches the old ones (Postgres; SQLite
    deletes the rows); the detached months are dropped after it, each on its own, so the
    seconds a filesystem takes to free gigabytes block no load or read of the readings.

    Parameters
    ----------
    engine
        Our store (see :func:`pm_pipeline.db.migrate.open_configured_store`).
    policy
        The retention settings.
    now
        The moment the cutoffs count back from; the current time by default.

    Returns
    -------
    RetentionReport
    """
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now).tz_convert("UTC")
    readings = readings_table()
    tables = [
        (readings, time_column_of(readings), policy.readings_days),
        (readings_minute, "minute", policy.rollup_days),
    ]
    created: list[str] = []
    removed: list[Removed] = []
    cutoffs: dict[str, pd.Timestamp] = {}
    started = time.perf_counter()
    with engine.begin() as connection:
        for table, key, days in tables:
            created += ensure_months_ahead(connection, table.name, now, policy.months_ahead)
            if days is not None:
                cutoffs[table.name] = now - pd.Timedelta(days=days)
                removed.append(remove_before(connection, table, key, cutoffs[table.name]))
    locked = time.perf_counter() - started
    for table, _, _ in tables:
        drop_detached_months(engine, table.name)  # also any a crash left detached
    return RetentionReport(tuple(created), tuple(removed), cutoffs, locked)
