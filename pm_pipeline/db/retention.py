"""Removing stored rows older than a cutoff: whole monthly partitions on Postgres, a DELETE on
SQLite (whose tables are not partitioned)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Table, delete

from pm_pipeline.db.partitions import detach_months_before, is_partitioned
from pm_pipeline.db.timestamps import to_db_time


@dataclass(frozen=True)
class Removed:
    """What one table lost: the partitions dropped whole, and rows deleted one by one
    (SQLite's, or those a Postgres default partition held)."""

    table: str
    partitions: tuple[str, ...] = ()
    rows: int = 0


def remove_before(connection: Connection, table: Table, key: str, cutoff: pd.Timestamp) -> Removed:
    """Remove ``table``'s rows whose ``key`` is older than ``cutoff``.

    Parameters
    ----------
    connection
        An open transaction.
    table, key
        The table and its time column (the partition key on Postgres).
    cutoff
        UTC. On Postgres only partitions ending at or before it go, so a month that holds
        a newer row stays whole until its last day is past the cutoff. They are detached
        here; :func:`pm_pipeline.db.partitions.drop_detached_months` drops them once this
        transaction has committed.

    Returns
    -------
    Removed
    """
    if is_partitioned(connection, table.name):
        detached, rows = detach_months_before(connection, table.name, key, cutoff)
        return Removed(table.name, tuple(detached), rows)
    result = connection.execute(delete(table).where(table.c[key] < to_db_time(connection, cutoff)))
    return Removed(table.name, (), int(result.rowcount or 0))
