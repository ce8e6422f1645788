"""Monthly range partitions of our time-keyed tables on Postgres: made ahead, made on demand
for any month a load brings (old backfills too), and dropped whole by retention.

A partitioned table ``T`` has one partition per calendar month (UTC), ``T_pYYYY_MM``, and a
default partition ``T_default`` that catches a row of a month with no partition yet, so a
load never fails for want of one. Loads make their months' partitions first
(:func:`ensure_months`) and settle the default partition after (:func:`settle_default`):
rows found there move into their month's new partition in the same transaction. Making a
partition takes an advisory lock, so two loads never race to make the same month.

Everything here is Postgres only; SQLite tables are not partitioned and every function
returns at once there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Connection, Engine, text

DEFAULT_SUFFIX = "_default"
_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"pm_pipeline partitions").digest()[:8], "big", signed=True
)
_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class MonthPartition:
    """One month's partition: its table name and its bounds ``[start, end)`` in UTC."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp


def month_of(moment: pd.Timestamp | datetime | str) -> pd.Timestamp:
    """The first instant (UTC) of the calendar month holding ``moment`` (naive means UTC)."""
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return pd.Timestamp(year=stamp.year, month=stamp.month, day=1, tz=UTC)


def months_spanning(first: pd.Timestamp, last: pd.Timestamp) -> list[pd.Timestamp]:
    """Every month from the one holding ``first`` to the one holding ``last``."""
    return list(pd.date_range(month_of(first), month_of(last), freq="MS"))


def partition_name(parent: str, month: pd.Timestamp) -> str:
    """The name of ``parent``'s partition for ``month``, such as ``pm_readings_p2026_01``."""
    return f"{parent}_p{month.year:04d}_{month.month:02d}"


def is_partitioned(connection: Connection, parent: str) -> bool:
    """True when ``parent`` is a partitioned table on Postgres (never on SQLite)."""
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:name)"), {"name": parent}
    ).scalar()
    return kind == "p"


def month_partitions(connection: Connection, parent: str) -> list[MonthPartition]:
    """``parent``'s range partitions, oldest first (the default partition left out)."""
    if not is_partitioned(connection, parent):
        return []
    rows = connection.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:name)"
        ),
        {"name": parent},
    ).all()
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound or "")
        if match:  # the default partition has no range
            start, end = (pd.Timestamp(value).tz_convert(UTC) for value in match.groups())
            found.append(MonthPartition(str(name), start, end))
    return sorted(found, key=lambda partition: partition.start)


def create_partitioned_like(connection: Connection, source: str, target: str, key: str) -> None:
    """Create ``target`` with ``source``'s columns and defaults, range-partitioned on ``key``,
    keyed by ``robot_id`` and ``key``, with its default partition (no month partitions yet)."""
    quote = connection.dialect.identifier_preparer.quote
    connection.execute(
        text(
            f"CREATE TABLE {quote(target)} (LIKE {quote(source)} INCLUDING DEFAULTS) "
            f"PARTITION BY RANGE ({quote(key)})"
        )
    )
    connection.execute(
        text(
            f"ALTER TABLE {quote(target)} ADD CONSTRAINT {quote(f'pk_{target}')} "
            f"PRIMARY KEY (robot_id, {quote(key)})"
        )
    )
    connection.execute(
        text(f"CREATE TABLE {quote(target + DEFAULT_SUFFIX)} PARTITION OF {quote(target)} DEFAULT")
    )


def ensure_months(connection: Connection, parent: str, months: Iterable[pd.Timestamp]) -> list[str]:
    """Make the partitions of ``months`` that ``parent`` lacks; return the names made.

    Rows of those months already in the default partition move into the new partition.
    """
    if not is_partitioned(connection, parent):
        return []
    wanted = sorted({month_of(month) for month in months})
    if not _missing(connection, parent, wanted):
        return []
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    missing = _missing(connection, parent, wanted)  # another load may have made them
    for month in missing:
        _create_month(connection, parent, month)
    return [partition_name(parent, month) for month in missing]


def ensure_months_ahead(
    connection: Connection, parent: str, now: pd.Timestamp, months_ahead: int
) -> list[str]:
    """Make the partitions of the month holding ``now`` and the ``months_ahead`` after it."""
    current = month_of(now)
    months = [current + pd.DateOffset(months=n) for n in range(months_ahead + 1)]
    return ensure_months(connection, parent, months)


def settle_default(connection: Connection, parent: str, key: str) -> list[str]:
    """Move the rows a load left in ``parent``'s default partition into month partitions
    made for them; return the names made. Cheap when the default partition is empty."""
    if not is_partitioned(connection, parent):
        return []
    quote = connection.dialect.identifier_preparer.quote
    default = quote(parent + DEFAULT_SUFFIX)
    if connection.execute(text(f"SELECT 1 FROM {default} LIMIT 1")).first() is None:
        return []
    months = connection.execute(
        text(f"SELECT DISTINCT date_trunc('month', {quote(key)} AT TIME ZONE 'UTC') FROM {default}")
    ).scalars()
    return ensure_months(connection, parent, list(months))


def detach_months_before(
    connection: Connection, parent: str, key: str, cutoff: pd.Timestamp
) -> tuple[list[str], int]:
    """Detach ``parent``'s partitions that end at or before ``cutoff`` (never one holding a
    newer row), and delete the default partition's rows older than it.

    Detaching changes only the catalog, so ``parent`` is locked for a moment; the detached
    tables keep their names and are dropped by :func:`drop_detached_months` after this
    transaction, when removing their files (seconds per few GB) blocks no reader or load.

    Returns
    -------
    tuple
        The names of the partitions detached, and the rows deleted from the default one.
    """
    if not is_partitioned(connection, parent):
        return [], 0
    quote = connection.dialect.identifier_preparer.quote
    detached = []
    for partition in month_partitions(connection, parent):
        if partition.end <= cutoff:
            connection.execute(
                text(f"ALTER TABLE {quote(parent)} DETACH PARTITION {quote(partition.name)}")
            )
            detached.append(partition.name)
    deleted = connection.execute(
        text(f"DELETE FROM {quote(parent + DEFAULT_SUFFIX)} WHERE {quote(key)} < :cutoff"),
        {"cutoff": cutoff.to_pydatetime()},
    )
    return detached, int(deleted.rowcount or 0)


def detached_months(connection: Connection, parent: str) -> list[str]:
    """Tables named as ``parent``'s monthly partitions, beside it, that are not partitions any
    more: detached by retention and not dropped yet (a crash in between leaves them)."""
    if connection.dialect.name != "postgresql":
        return []
    names = connection.execute(
        text(
            "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND NOT c.relispartition "
            "AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = "
            "to_regclass(:parent)) AND c.relname ~ :pattern ORDER BY c.relname"
        ),
        {"parent": parent, "pattern": f"^{re.escape(parent)}_p[0-9]{{4}}_[0-9]{{2}}$"},
    ).scalars()
    return list(names)


def drop_detached_months(engine: Engine, parent: str) -> list[str]:
    """Drop the detached months of ``parent`` (see :func:`detached_months`), each in its own
    transaction; return their names."""
    with engine.connect() as connection:
        names = detached_months(connection, parent)
    quote = engine.dialect.identifier_preparer.quote
    for name in names:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {quote(name)}"))
    return names


def _missing(connection: Connection, parent: str, months: list[pd.Timestamp]) -> list[pd.Timestamp]:
    have = {partition.start for partition in month_partitions(connection, parent)}
    return [month for month in months if month not in have]


def _create_month(connection: Connection, parent: str, month: pd.Timestamp) -> None:
    """Create the month's table, move its rows out of the default partition, then attach it
    (attaching checks the default partition holds none of the month's rows any more)."""
    quote = connection.dialect.identifier_preparer.quote
    name, default = quote(partition_name(parent, month)), quote(parent + DEFAULT_SUFFIX)
    key = _partition_key(connection, parent)
    bounds = {
        "start": month.to_pydatetime(),
        "end": (month + pd.DateOffset(months=1)).to_pydatetime(),
    }
    connection.execute(text(f"CREATE TABLE {name} (LIKE {quote(parent)} INCLUDING DEFAULTS)"))
    connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {default} WHERE {quote(key)} >= :start "
            f"AND {quote(key)} < :end RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        ),
        bounds,
    )
    connection.execute(
        text(
            f"ALTER TABLE {quote(parent)} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ({_literal(bounds['start'])}) TO ({_literal(bounds['end'])})"
        )
    )


def _partition_key(connection: Connection, parent: str) -> str:
    return connection.execute(
        text(
            "SELECT a.attname FROM pg_partitioned_table p JOIN pg_attribute a "
            "ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
            "WHERE p.partrelid = to_regclass(:name)"
        ),
        {"name": parent},
    ).scalar_one()


def _literal(moment: datetime) -> str:
    """A partition bound: a timestamptz literal in UTC (bounds take no parameters)."""
    return f"'{moment.astimezone(UTC).isoformat()}'"
