"""Queries on the readings table: windows, pages, spans (storing is in :mod:`.ingest`)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, func, select
from sqlalchemy.sql import Select

from pm_pipeline.core.schema import AXES, CONTEXT_COLUMNS, TIME_COLUMN
from pm_pipeline.db.bulk import bulk_read
from pm_pipeline.db.engine import connected
from pm_pipeline.db.schema import ingested_files, time_column_of
from pm_pipeline.db.timestamps import from_db_times, to_db_time

FLOAT = np.dtype("float64")


def readings_query(
    engine: Engine | Connection,
    table: Table,
    robot_id: str,
    start: str | None = None,
    end: str | None = None,
    limit: int | None = None,
) -> Select:
    """SELECT the robot's readings in ``[start, end]``, or its newest ``limit`` readings
    (the context columns too, where the table has them)."""
    time_column = table.c[time_column_of(table)]
    context = [table.c[name] for name in CONTEXT_COLUMNS if name in table.c]
    query = select(
        time_column.label(TIME_COLUMN), *(table.c[axis] for axis in AXES), *context
    ).where(table.c.robot_id == robot_id)
    if start is not None:
        query = query.where(time_column >= to_db_time(engine, start))
    if end is not None:
        query = query.where(time_column <= to_db_time(engine, end))
    if limit is not None:
        return query.order_by(time_column.desc()).limit(limit)
    return query.order_by(time_column)


def read_readings(
    engine: Engine,
    table: Table,
    robot_id: str,
    start: str | None = None,
    end: str | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Load readings as a canonical frame, oldest first.

    Parameters
    ----------
    engine, table, robot_id
        Where to read.
    start, end
        Inclusive UTC bounds (ISO 8601), optional.
    limit
        Keep only the newest ``limit`` readings, optional.

    Returns
    -------
    pandas.DataFrame
    """
    with engine.connect() as connection:
        query = readings_query(engine, table, robot_id, start, end, limit)
        frame = _read_without_jit(connection, query)
    return canonical_readings(frame)


def canonical_readings(frame: pd.DataFrame) -> pd.DataFrame:
    """Stored rows as a canonical readings frame, oldest first: UTC times, float axes, and
    the context columns that carry a reading (a robot without context has none)."""
    # Whole-frame operations, not one per column: a file's scoring reads a few hundred stored
    # readings twice, and 25 column assignments cost more than the query.
    frame[TIME_COLUMN] = from_db_times(frame[TIME_COLUMN])
    contexts = [context for context in CONTEXT_COLUMNS if context in frame]
    convert = {name: FLOAT for name in (*AXES, *contexts) if frame[name].dtype != FLOAT}
    if convert:
        frame = frame.astype(convert)
    unused = frame[contexts].isna().all()
    frame = frame.drop(columns=list(unused.index[unused]))
    if frame[TIME_COLUMN].is_monotonic_increasing:  # as the queries return them, mostly
        return frame.reset_index(drop=True)
    return frame.sort_values(TIME_COLUMN, ignore_index=True)


def readings_span(
    engine: Engine, table: Table, robot_id: str
) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
    """Row count, first and last timestamp of the robot's stored readings."""
    time_column = table.c[time_column_of(table)]
    query = select(func.count(), func.min(time_column), func.max(time_column)).where(
        table.c.robot_id == robot_id
    )
    with engine.connect() as connection:
        count, first, last = connection.execute(query).one()
    if not count:
        return 0, None, None
    stamps = from_db_times(pd.Series([first, last]))
    return int(count), stamps.iloc[0], stamps.iloc[1]


def count_readings_since(
    engine: Engine, table: Table, robot_id: str, start: pd.Timestamp, at_most: int
) -> int:
    """How many of the robot's stored readings are at or after ``start``, counted up to
    ``at_most``: a baseline may lie months back, and its readings are checked each tick."""
    time_column = table.c[time_column_of(table)]
    since = (
        select(time_column)
        .where((table.c.robot_id == robot_id) & (time_column >= to_db_time(engine, start)))
        .limit(at_most)
        .subquery()
    )
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(since)).scalar_one())


def readings_bounds(
    engine: Engine, table: Table, robot_id: str
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last timestamp of the robot's stored readings (None, None when it has none).

    Unlike :func:`readings_span` it counts nothing: each bound is one probe of the key's
    index (per monthly partition on Postgres), however many readings the robot has.
    """
    time_column = table.c[time_column_of(table)]
    query = select(func.min(time_column), func.max(time_column)).where(table.c.robot_id == robot_id)
    with engine.connect() as connection:
        first, last = connection.execute(query).one()
    if first is None or last is None:
        return None, None
    stamps = from_db_times(pd.Series([first, last]))
    return stamps.iloc[0], stamps.iloc[1]


def newest_reading_time(engine: Engine, table: Table, robot_id: str) -> pd.Timestamp | None:
    """The timestamp of the robot's newest reading, or None when it has none."""
    return readings_bounds(engine, table, robot_id)[1]


def read_recent_readings(engine: Engine, table: Table, robot_id: str, days: float) -> pd.DataFrame:
    """The robot's readings of the ``days`` days up to its newest one, oldest first."""
    newest = newest_reading_time(engine, table, robot_id)
    if newest is None:
        return read_readings(engine, table, robot_id, limit=0)
    start = (newest - pd.Timedelta(days=days)).isoformat()
    return read_readings(engine, table, robot_id, start=start)


def stored_robot_ids(engine: Engine, table: Table) -> list[str]:
    """Every robot with readings in the store, in id order.

    A skip scan of the key's index: each robot is one probe for the next id after the last
    (per monthly partition on Postgres), where ``SELECT DISTINCT`` would read every reading.
    """
    robot = table.c.robot_id
    first = select(func.min(robot).label("robot_id")).cte("robots", recursive=True)
    following = select(func.min(robot)).where(robot > first.c.robot_id).scalar_subquery()
    robots = first.union_all(select(following).where(first.c.robot_id.is_not(None)))
    query = select(robots.c.robot_id).where(robots.c.robot_id.is_not(None)).order_by("robot_id")
    with engine.connect() as connection:
        return [str(robot_id) for robot_id in connection.execute(query).scalars()]


def has_readings(engine: Engine, table: Table, robot_id: str) -> bool:
    """True when the store holds at least one reading of the robot (an index lookup)."""
    with engine.connect() as connection:
        query = select(table.c.robot_id).where(table.c.robot_id == robot_id).limit(1)
        return connection.execute(query).first() is not None


def skipped_duplicates(engine: Engine, robot_id: str) -> int:
    """Readings that ingest found already stored (or repeated within a file), summed."""
    with engine.connect() as connection:
        total = connection.execute(
            select(func.coalesce(func.sum(ingested_files.c.rows_present), 0)).where(
                ingested_files.c.robot_id == robot_id
            )
        ).scalar()
    return int(total or 0)


def last_ingested_at(engine: Engine, robot_id: str) -> pd.Timestamp | None:
    """When a file of the robot was last ingested, or None when none was."""
    query = select(func.max(ingested_files.c.ingested_at)).where(
        ingested_files.c.robot_id == robot_id
    )
    with engine.connect() as connection:
        value = connection.execute(query).scalar()
    return None if value is None else from_db_times(pd.Series([value])).iloc[0]


def ingested_span(
    engine: Engine, robot_id: str, file_name: str
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The oldest first and the newest last reading of every ingest of ``file_name`` for the
    robot, or None when none stored a reading."""
    query = select(func.min(ingested_files.c.first_ts), func.max(ingested_files.c.last_ts)).where(
        ingested_files.c.robot_id == robot_id, ingested_files.c.file_name == file_name
    )
    with engine.connect() as connection:
        first, last = connection.execute(query).one()
    if first is None or last is None:
        return None
    stamps = from_db_times(pd.Series([first, last]))
    return stamps.iloc[0], stamps.iloc[1]


def iter_readings_pages(
    engine: Engine, table: Table, robot_id: str, page_rows: int
) -> Iterator[pd.DataFrame]:
    """The robot's readings, oldest first, one page at a time (keyset pagination on time)."""
    time_column = table.c[time_column_of(table)]
    after = None
    while True:
        query = readings_query(engine, table, robot_id)
        if after is not None:
            query = query.where(time_column > to_db_time(engine, after))
        with engine.connect() as connection:
            page = _read_without_jit(connection, query.limit(page_rows))
        if page.empty:
            return
        page[TIME_COLUMN] = from_db_times(page[TIME_COLUMN])
        yield page.drop(columns=[c for c in CONTEXT_COLUMNS if c in page and page[c].isna().all()])
        after = page[TIME_COLUMN].iloc[-1]


def readings_before(
    engine: Engine | Connection,
    table: Table,
    robot_id: str,
    before: pd.Timestamp,
    rows: int,
    since: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The robot's readings before ``before`` (not at it), oldest first: every one from
    ``since`` on, and the ``rows`` readings before that (before ``before`` without ``since``).

    This is the stored tail a detector replays to continue where the readings left off.
    """
    time_column = table.c[time_column_of(table)]
    recent = readings_query(engine, table, robot_id).where(time_column < to_db_time(engine, before))
    parts = []
    if since is not None:
        parts.append(recent.where(time_column >= to_db_time(engine, since)))
        recent = recent.where(time_column < to_db_time(engine, since))
    parts.append(recent.order_by(None).order_by(time_column.desc()).limit(rows))
    return _readings_frame(engine, parts)


def readings_after(
    engine: Engine | Connection,
    table: Table,
    robot_id: str,
    after: pd.Timestamp,
    rows: int,
    until: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """The robot's readings after ``after`` (not at it), oldest first: the first ``rows``
    of them, or every one up to ``until`` (inclusive) when that is more."""
    time_column = table.c[time_column_of(table)]
    later = readings_query(engine, table, robot_id).where(time_column > to_db_time(engine, after))
    parts = [later.limit(rows)]
    if until is not None:
        parts.append(later.where(time_column <= to_db_time(engine, until)))
    frame = _readings_frame(engine, parts)
    return frame.drop_duplicates(TIME_COLUMN, ignore_index=True)


def _readings_frame(engine: Engine | Connection, queries: list[Select]) -> pd.DataFrame:
    """The readings of every query, as one canonical frame sorted by time (read inside the
    transaction of ``engine`` when it is a connection)."""
    with connected(engine) as connection:
        frames = [_read_without_jit(connection, query) for query in queries]
    return canonical_readings(pd.concat(frames, ignore_index=True))


def _read_without_jit(connection: Connection, query: Select) -> pd.DataFrame:
    """:func:`bulk_read` of a robot's readings, with Postgres' JIT off for the transaction.

    A robot's readings are an index range scan. Past tens of millions of readings its cost
    estimate crosses ``jit_above_cost``, and compiling the plan (for each monthly partition)
    made a 7-day window at 50 million readings take 1.2 s, 2.1 s of JIT in EXPLAIN, where
    it takes 0.3 s without.

    The setting is put back after the read: the transaction may be a caller's (scoring's,
    storing a file), whose big statements after it (the rollups' refresh) may gain from JIT.
    """
    if connection.dialect.name != "postgresql":
        return bulk_read(connection, query)
    previous = connection.exec_driver_sql("SHOW jit").scalar()
    connection.exec_driver_sql("SET LOCAL jit = off")
    readings = bulk_read(connection, query)
    connection.exec_driver_sql("SELECT set_config('jit', %(jit)s, true)", {"jit": previous})
    return readings
