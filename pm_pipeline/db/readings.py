"""Bulk load and bulk read of readings."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    MetaData,
    String,
    Table,
    func,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.db.bulk import bulk_insert, bulk_read
from pm_pipeline.db.schema import create_tables, ingested_files, metadata
from pm_pipeline.db.timestamps import from_db_times, to_db_time


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did: rows in the file, rows new to the table, rows already there."""

    file_name: str
    rows_in_file: int
    rows_added: int
    rows_present: int
    first_time: pd.Timestamp | None = None
    last_time: pd.Timestamp | None = None


def ingest_readings(
    engine: Engine,
    table: Table,
    readings: pd.DataFrame,
    robot_id: str,
    file_name: str,
    content_sha256: str,
) -> IngestResult:
    """Insert readings that are not stored yet, all in one transaction.

    Parameters
    ----------
    engine
        Readings database.
    table
        The readings table (see :func:`pm_pipeline.db.schema.readings_table`).
    readings
        Canonical readings frame.
    robot_id
        Robot the readings belong to; a reading is identified by robot and timestamp.
    file_name, content_sha256
        Recorded in ``pm_ingested_files`` next to the counts.

    Returns
    -------
    IngestResult
    """
    create_tables(engine, table)
    rows = _table_rows(readings, _time_column(table), robot_id)
    try:
        added = _store_new_rows(engine, table, rows, allow_direct=True)
    except IntegrityError:
        # Another writer filled part of the file's time range since we looked: merge instead.
        added = _store_new_rows(engine, table, rows, allow_direct=False)
    first, last = (
        (readings[TIME_COLUMN].min(), readings[TIME_COLUMN].max()) if len(rows) else (None, None)
    )
    with engine.begin() as connection:
        return _record_ingest(
            connection, robot_id, file_name, content_sha256, len(readings), added, first, last
        )


class AppendCollided(Exception):  # noqa: N818 - a signal to the caller, not a failure
    """A direct append met a reading already stored (or repeated across two chunks); the
    transaction is rolled back and the file must be ingested again through staging."""


def ingest_reading_chunks(
    engine: Engine,
    table: Table,
    chunks: Iterable[pd.DataFrame],
    robot_id: str,
    file_name: str,
    content_sha256: str,
    append_directly: bool = True,
) -> IngestResult:
    """Like :func:`ingest_readings` for a file read in chunks, all in one transaction, so an
    error in any chunk (or in whatever consumes the chunks alongside) stores nothing.

    When the file starts after the robot's newest stored reading (the usual new export) and
    ``append_directly`` is set, chunks go straight into the table; otherwise every chunk is
    staged and the new rows are inserted at the end.

    Raises
    ------
    AppendCollided
        When a direct append meets a reading already stored; nothing is stored then, and the
        caller ingests again with ``append_directly=False``.
    """
    create_tables(engine, table)
    time_column = _time_column(table)
    pending = iter(chunks)
    opening = next(pending, None)
    if opening is None:
        raise PipelineError(f"{file_name}: no readings to ingest.")
    counts = _ChunkCounts()
    with engine.begin() as connection:
        newest = _newest_time(connection, table, robot_id)
        direct = append_directly and (newest is None or opening[TIME_COLUMN].min() > newest)
        frames = (
            _table_rows(counts.add(chunk), time_column, robot_id)
            for chunk in itertools.chain([opening], pending)
        )
        if direct:
            try:
                added = sum(_append_unique(connection, table, rows) for rows in frames)
            except IntegrityError as error:
                raise AppendCollided(str(error.orig)) from error
        else:
            added = _merge_through_staging(connection, table, frames)
        return _record_ingest(
            connection,
            robot_id,
            file_name,
            content_sha256,
            counts.rows,
            added,
            counts.first,
            counts.last,
        )


class _ChunkCounts:
    """Rows and time span of the chunks that pass through."""

    def __init__(self) -> None:
        self.rows = 0
        self.first: pd.Timestamp | None = None
        self.last: pd.Timestamp | None = None

    def add(self, chunk: pd.DataFrame) -> pd.DataFrame:
        times = chunk[TIME_COLUMN]
        self.rows += len(chunk)
        self.first = times.min() if self.first is None else min(self.first, times.min())
        self.last = times.max() if self.last is None else max(self.last, times.max())
        return chunk


def _table_rows(readings: pd.DataFrame, time_column: str, robot_id: str) -> pd.DataFrame:
    rows = readings.rename(columns={TIME_COLUMN: time_column})[[time_column, *AXES]]
    rows.insert(0, "robot_id", robot_id)
    return rows


def _newest_time(connection: Connection, table: Table, robot_id: str) -> pd.Timestamp | None:
    time_column = table.c[_time_column(table)]
    newest = connection.execute(
        select(func.max(time_column)).where(table.c.robot_id == robot_id)
    ).scalar()
    return None if newest is None else from_db_times(pd.Series([newest])).iloc[0]


def _record_ingest(
    connection: Connection,
    robot_id: str,
    file_name: str,
    content_sha256: str,
    rows_in_file: int,
    added: int,
    first: pd.Timestamp | None,
    last: pd.Timestamp | None,
) -> IngestResult:
    connection.execute(
        ingested_files.insert().values(
            robot_id=robot_id,
            file_name=file_name,
            content_sha256=content_sha256,
            rows_in_file=rows_in_file,
            rows_added=added,
            rows_present=rows_in_file - added,
            first_ts=None if first is None else to_db_time(connection, first),
            last_ts=None if last is None else to_db_time(connection, last),
            ingested_at=to_db_time(connection, pd.Timestamp(datetime.now(UTC))),
        )
    )
    return IngestResult(file_name, rows_in_file, added, rows_in_file - added, first, last)


def _store_new_rows(engine: Engine, table: Table, rows: pd.DataFrame, allow_direct: bool) -> int:
    """Insert the rows not stored yet, in one transaction; return how many were new.

    When nothing is stored in the file's time range (the usual case for a new export), the
    rows go straight into the table; otherwise through a staging table and a set-based
    insert that skips existing readings.
    """
    with engine.begin() as connection:
        if allow_direct and not _range_has_rows(connection, table, rows):
            return _append_unique(connection, table, rows)
        return _merge_through_staging(connection, table, [rows])


def _append_unique(connection: Connection, table: Table, rows: pd.DataFrame) -> int:
    """Append ``rows`` straight to the table, the first of any repeated instant only."""
    unique = rows.drop_duplicates(subset=[_time_column(table)], keep="first")
    bulk_insert(connection, table, unique)
    return len(unique)


def _merge_through_staging(
    connection: Connection, table: Table, frames: Iterable[pd.DataFrame]
) -> int:
    """Stage ``frames`` in a temporary table, then insert the readings not stored yet with one
    set-based insert that skips existing ones; return how many were new."""
    staging = _staging_table(table)
    staging.create(connection)
    for rows in frames:
        bulk_insert(connection, staging, rows)
    added = connection.execute(_insert_new_rows(connection, table, staging)).rowcount
    staging.drop(connection)
    return added


def _range_has_rows(connection: Connection, table: Table, rows: pd.DataFrame) -> bool:
    if rows.empty:
        return False
    time_column = table.c[_time_column(table)]
    times = rows[time_column.name]
    query = select(time_column).where(
        (table.c.robot_id == rows["robot_id"].iloc[0])
        & (time_column >= to_db_time(connection, times.min()))
        & (time_column <= to_db_time(connection, times.max()))
    )
    return connection.execute(query.limit(1)).first() is not None


def _staging_table(table: Table) -> Table:
    return Table(
        "pm_staging_readings",
        MetaData(),
        Column("robot_id", String(64)),
        Column(_time_column(table), DateTime(timezone=True)),
        *(Column(axis, Float) for axis in AXES),
        prefixes=["TEMPORARY"],
    )


def _insert_new_rows(bind: Engine | Connection, table: Table, staging: Table):  # noqa: ANN202
    dialect_insert = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
    names = [column.name for column in table.columns]
    # SQLite needs the WHERE to tell the upsert's ON CONFLICT apart from a join's ON.
    rows = select(*(staging.c[name] for name in names)).where(true())
    return dialect_insert(table).from_select(names, rows).on_conflict_do_nothing()


def _time_column(table: Table) -> str:
    return next(c.name for c in table.columns if c.name not in ("robot_id", *AXES))


def readings_query(
    engine: Engine,
    table: Table,
    robot_id: str,
    start: str | None = None,
    end: str | None = None,
    limit: int | None = None,
) -> Select:
    """SELECT the robot's readings in ``[start, end]``, or its newest ``limit`` readings."""
    time_column = table.c[_time_column(table)]
    query = select(time_column.label(TIME_COLUMN), *(table.c[axis] for axis in AXES)).where(
        table.c.robot_id == robot_id
    )
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
    create_tables(engine, table)
    with engine.connect() as connection:
        frame = bulk_read(connection, readings_query(engine, table, robot_id, start, end, limit))
    frame[TIME_COLUMN] = from_db_times(frame[TIME_COLUMN])
    for axis in AXES:
        frame[axis] = frame[axis].astype("float64")
    return frame.sort_values(TIME_COLUMN, ignore_index=True)


def readings_span(
    engine: Engine, table: Table, robot_id: str
) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
    """Row count, first and last timestamp of the robot's stored readings."""
    create_tables(engine, table)
    time_column = table.c[_time_column(table)]
    query = select(func.count(), func.min(time_column), func.max(time_column)).where(
        table.c.robot_id == robot_id
    )
    with engine.connect() as connection:
        count, first, last = connection.execute(query).one()
    if not count:
        return 0, None, None
    stamps = from_db_times(pd.Series([first, last]))
    return int(count), stamps.iloc[0], stamps.iloc[1]


def newest_reading_time(engine: Engine, table: Table, robot_id: str) -> pd.Timestamp | None:
    """The timestamp of the robot's newest reading, or None when it has none."""
    return readings_span(engine, table, robot_id)[2]


def skipped_duplicates(engine: Engine, robot_id: str) -> int:
    """Readings that ingest found already stored (or repeated within a file), summed."""
    metadata.create_all(engine)
    with engine.connect() as connection:
        total = connection.execute(
            select(func.coalesce(func.sum(ingested_files.c.rows_present), 0)).where(
                ingested_files.c.robot_id == robot_id
            )
        ).scalar()
    return int(total or 0)


def iter_readings_pages(
    engine: Engine, table: Table, robot_id: str, page_rows: int
) -> Iterator[pd.DataFrame]:
    """The robot's readings, oldest first, one page at a time (keyset pagination on time)."""
    create_tables(engine, table)
    time_column = table.c[_time_column(table)]
    after = None
    while True:
        query = readings_query(engine, table, robot_id)
        if after is not None:
            query = query.where(time_column > to_db_time(engine, after))
        with engine.connect() as connection:
            page = bulk_read(connection, query.limit(page_rows))
        if page.empty:
            return
        page[TIME_COLUMN] = from_db_times(page[TIME_COLUMN])
        yield page
        after = page[TIME_COLUMN].iloc[-1]
