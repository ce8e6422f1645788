"""1-minute rollups of our readings: count, mean, minimum and maximum per robot, minute and
axis, kept beside the raw readings for the views that span long periods.

A load refreshes the rollups of the minutes it touched, in its own transaction, from the
raw readings of those minutes (:func:`refresh_rollups`): a minute split over two files, or a
reading skipped as already stored, gives the same rollup as one load would. The same
SQLAlchemy statement serves Postgres (``date_trunc``) and SQLite (``strftime``).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import ColumnElement, Connection, Engine, Table, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Select

from pm_pipeline.core.schema import AXES
from pm_pipeline.db.bulk import bulk_read
from pm_pipeline.db.partitions import ensure_months, months_spanning
from pm_pipeline.db.schema import readings_minute, time_column_of
from pm_pipeline.db.timestamps import from_db_times, to_db_time

_SQLITE_MINUTE = "%Y-%m-%d %H:%M:00.000000"
"""SQLite stores SQLAlchemy's DateTime as this text (microseconds included), so a minute
compares with bound times as SQLAlchemy writes them."""


def minute_of(bind: Engine | Connection, moment: ColumnElement) -> ColumnElement:
    """The minute holding ``moment`` as SQL: the rollup's key."""
    if bind.dialect.name == "postgresql":
        return func.date_trunc("minute", moment)
    return func.strftime(_SQLITE_MINUTE, moment)


def rollup_query(
    bind: Engine | Connection,
    readings: Table,
    robot_id: str | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> Select:
    """The rollup rows of ``readings`` (columns as :data:`readings_minute`'s), grouped by
    robot and minute, optionally for one robot and times in ``[start, end)``."""
    moment = readings.c[time_column_of(readings)]
    minute = minute_of(bind, moment)
    statistics = []
    for axis in AXES:
        value = readings.c[axis]
        statistics += [
            func.count(value).label(f"{axis}_count"),
            func.avg(value).label(f"{axis}_mean"),
            func.min(value).label(f"{axis}_min"),
            func.max(value).label(f"{axis}_max"),
        ]
    query = select(
        readings.c.robot_id,
        minute.label("minute"),
        func.count().label("readings"),
        *statistics,
    ).where(true())  # SQLite tells the upsert's ON CONFLICT from a join's ON by a WHERE
    if robot_id is not None:
        query = query.where(readings.c.robot_id == robot_id)
    if start is not None:
        query = query.where(moment >= to_db_time(bind, start))
    if end is not None:
        query = query.where(moment < to_db_time(bind, end))
    return query.group_by(readings.c.robot_id, minute)


def refresh_rollups(
    connection: Connection,
    readings: Table,
    robot_id: str,
    first: pd.Timestamp,
    last: pd.Timestamp,
) -> int:
    """Recompute the robot's rollups of every minute from ``first`` to ``last`` (inclusive)
    from its raw readings; return how many minutes were written."""
    start = first.floor("min")
    end = last.floor("min") + pd.Timedelta(minutes=1)
    ensure_months(connection, readings_minute.name, months_spanning(start, last))
    rows = rollup_query(connection, readings, robot_id, start, end)
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    names = [column.name for column in readings_minute.columns]
    statement = dialect_insert(readings_minute).from_select(names, rows)
    statement = statement.on_conflict_do_update(
        index_elements=["robot_id", "minute"],
        set_={name: statement.excluded[name] for name in names[2:]},
    )
    return connection.execute(statement).rowcount


def read_rollups(
    engine: Engine,
    robot_id: str,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The robot's 1-minute rollups in ``[start, end)``, oldest first, ``minute`` UTC-aware."""
    table = readings_minute
    query = select(table).where(table.c.robot_id == robot_id)
    if start is not None:
        query = query.where(table.c.minute >= to_db_time(engine, start))
    if end is not None:
        query = query.where(table.c.minute < to_db_time(engine, end))
    with engine.connect() as connection:
        frame = bulk_read(connection, query.order_by(table.c.minute))
    frame["minute"] = from_db_times(frame["minute"])
    for column in frame.columns[3:]:
        kind = "int64" if column.endswith("_count") else "float64"
        frame[column] = frame[column].astype(kind)
    return frame.reset_index(drop=True)


def read_minute_counts(engine: Engine, robot_id: str) -> pd.DataFrame:
    """Readings per minute (``minute``, ``readings``) over the robot's whole rolled-up
    history, oldest first: what a per-hour chart of a year needs, 1/30 of its readings."""
    table = readings_minute
    query = (
        select(table.c.minute, table.c.readings)
        .where(table.c.robot_id == robot_id)
        .order_by(table.c.minute)
    )
    with engine.connect() as connection:
        frame = bulk_read(connection, query)
    frame["minute"] = from_db_times(frame["minute"])
    frame["readings"] = frame["readings"].astype("int64")
    return frame


def summarise_rollups(engine: Engine, robot_id: str) -> pd.DataFrame:
    """Per axis over the robot's whole rolled-up history: readings with a value, and their
    minimum, mean and maximum (one row per axis; NaN where an axis has none)."""
    table = readings_minute
    columns = []
    for axis in AXES:
        count = table.c[f"{axis}_count"]
        columns += [
            func.sum(count),
            func.min(table.c[f"{axis}_min"]),
            func.sum(table.c[f"{axis}_mean"] * count),
            func.max(table.c[f"{axis}_max"]),
        ]
    query = select(*columns).where(table.c.robot_id == robot_id)
    with engine.connect() as connection:
        values = list(connection.execute(query).one())
    rows = []
    for number, axis in enumerate(AXES):
        count, low, total, high = values[4 * number : 4 * number + 4]
        count = int(count or 0)
        rows.append(
            {
                "axis": axis,
                "readings": count,
                "min_A": float(low) if count else float("nan"),
                "mean_A": float(total) / count if count else float("nan"),
                "max_A": float(high) if count else float("nan"),
            }
        )
    return pd.DataFrame(rows)
