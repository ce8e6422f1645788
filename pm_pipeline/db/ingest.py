"""Storing a file's readings: one function, one collision rule, one transaction.

The rule: a reading is identified by robot and timestamp. One already stored is kept (the
file's reading at that instant is counted as present, not written), and within a file the
first reading of an instant wins. ``rows_present`` counts both kinds of skipped reading.

One exception: a new version of a file already ingested (same robot, same file name,
different bytes: a corrected export) replaces the stored values at its instants, in the same
transaction, so the readings agree with the events scored from its bytes. ``rows_replaced``
counts the readings whose values changed. Given a connection rather than an engine,
:func:`ingest_readings` writes in its caller's transaction, so a scored file's events can
commit with its readings (:func:`pm_pipeline.services.scoring.ingest_and_detect`): old
readings with old events, or new with new, never a mix.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
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
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.schema import AXES, CONTEXT_COLUMNS, TIME_COLUMN
from pm_pipeline.db.bulk import bulk_insert
from pm_pipeline.db.engine import in_transaction
from pm_pipeline.db.partitions import (
    ensure_months,
    is_partitioned,
    month_of,
    months_spanning,
    settle_default,
)
from pm_pipeline.db.rollups import refresh_rollups
from pm_pipeline.db.schema import DEFAULT_READINGS_TABLE, ingested_files, time_column_of
from pm_pipeline.db.timestamps import from_db_times, to_db_time

_UNIQUE_VIOLATION = "23505"


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did: rows in the file, rows new to the table, rows already there."""

    file_name: str
    rows_in_file: int
    rows_added: int
    rows_present: int
    first_time: pd.Timestamp | None = None
    last_time: pd.Timestamp | None = None
    rows_replaced: int = 0
    """Stored readings whose values this file, a new version of one ingested before, changed."""


class AppendCollided(Exception):
    """A direct append met a reading already stored (another writer got there first, or
    the file's chunks were not in time order); the transaction is rolled back and the file
    must be ingested again with ``append_directly=False``."""


FileHash = str | Callable[[], str]
"""A file's SHA-256, or what gives it once the file's chunks are all read (a file hashed
as it streams)."""


def ingest_readings(
    engine: Engine | Connection,
    table: Table,
    readings: pd.DataFrame | Iterable[pd.DataFrame],
    robot_id: str,
    file_name: str,
    content_sha256: FileHash,
    append_directly: bool = True,
) -> IngestResult:
    """Store the readings not stored yet, and record the file, all in one transaction; a new
    version of a file ingested before also replaces the stored values at its instants.

    An error anywhere, also one raised while the chunks are produced, stores nothing.

    Parameters
    ----------
    engine, table
        The readings database and table (see :func:`pm_pipeline.db.schema.readings_table`).
        A connection writes in its caller's transaction, which then decides what stays.
    readings
        One canonical readings frame, or chunks of one file in time order (consumed once).
    robot_id
        Robot the readings belong to.
    file_name, content_sha256
        Recorded in ``pm_ingested_files`` next to the counts; the hash is asked for only
        after the last chunk is read.
    append_directly
        When the file's first reading is newer than the robot's newest stored one (a new
        export), rows go straight into the table (one ``COPY`` on Postgres); otherwise, or
        with this off, through a staging table and a set-based insert of the new rows.

    Returns
    -------
    IngestResult

    Raises
    ------
    AppendCollided
        When chunks appended directly meet a stored reading. A single frame is then merged
        through staging here; chunks cannot be read twice, so the caller reads them again.
        In a caller's transaction (``engine`` a connection) the collision has spoilt it: the
        caller rolls back and tries again, also with a frame.
    """
    source = _Source(file_name, content_sha256)
    if not isinstance(readings, pd.DataFrame):
        return _ingest(engine, table, readings, robot_id, source, append_directly)
    if isinstance(engine, Connection):
        return _ingest(engine, table, [readings], robot_id, source, append_directly)
    try:
        return _ingest(engine, table, [readings], robot_id, source, append_directly)
    except AppendCollided:
        return _ingest(engine, table, [readings], robot_id, source, append_directly=False)


@dataclass(frozen=True)
class _Source:
    """The file the readings come from: its name, and its hash (asked for once read)."""

    file_name: str
    content_sha256: FileHash

    def sha256(self) -> str:
        given = self.content_sha256
        return given if isinstance(given, str) else given()


def _ingest(
    engine: Engine | Connection,
    table: Table,
    chunks: Iterable[pd.DataFrame],
    robot_id: str,
    source: _Source,
    append_directly: bool,
) -> IngestResult:
    counts = _FileRows(time_column_of(table))
    pending = iter(chunks)
    with in_transaction(engine) as connection:
        opening = next(pending, None)
        if opening is None:
            raise PipelineError(f"{source.file_name}: no readings to ingest.")
        newest = _newest_time(connection, table, robot_id) if append_directly else None
        direct = append_directly and (newest is None or opening[TIME_COLUMN].min() > newest)
        rows = counts.unique_rows(_chained(opening, pending))
        constants = {"robot_id": robot_id}
        replaced = 0
        if direct:
            try:
                added = _append_by_month(connection, table, rows, constants)
            except IntegrityError as error:
                if not _is_unique_violation(error):
                    raise
                raise AppendCollided(str(error.orig)) from error
        else:
            # Partitions for the opening chunk's months first; merged rows of any other month
            # wait in the default partition and are settled below (Postgres only).
            if not opening.empty:
                times = opening[TIME_COLUMN]
                ensure_months(connection, table.name, months_spanning(times.min(), times.max()))
            staging = _staged(connection, table, rows, constants)
            # Asked once the file is read whole: a file hashed as it streams has its hash now.
            replacing = _earlier_version_stored(connection, robot_id, source)
            added, replaced = _merge_staged(connection, table, staging, replacing)
        _after_load(connection, table, robot_id, counts, added + replaced)
        return _record_ingest(connection, robot_id, source, counts, (added, replaced))


def _append_by_month(
    connection: Connection, table: Table, frames: Iterable[pd.DataFrame], constants: dict
) -> int:
    """Append ``frames`` (time column named as ``table``'s); return the rows appended.

    Into a partitioned table, each month's rows go in by a ``COPY`` of their own once the
    month's partition is made: none lands in the default partition to be moved after (a
    backfill of a year would otherwise write eleven months twice). Elsewhere, one ``COPY``.
    """
    if not is_partitioned(connection, table.name):
        return bulk_insert(connection, table, frames, constants)
    time_column = time_column_of(table)
    pieces = (piece for frame in frames for piece in _split_by_month(frame, time_column))
    added = 0
    for month, group in itertools.groupby(
        pieces, key=lambda piece: _first_month(piece, time_column)
    ):
        if month is not None:
            ensure_months(connection, table.name, [month])
        added += bulk_insert(connection, table, group, constants)
    return added


def _split_by_month(frame: pd.DataFrame, time_column: str) -> Iterator[pd.DataFrame]:
    """``frame``'s rows by calendar month (UTC), each month's in their order."""
    if frame.empty:
        return
    times = frame[time_column]
    if not pd.api.types.is_datetime64_any_dtype(times) or times.isna().any():
        yield frame  # whole: the COPY refuses a missing time as it always did
        return
    months = times.dt.year * 12 + times.dt.month
    if months.min() == months.max():
        yield frame
        return
    for _, rows in frame.groupby(months.to_numpy(), sort=False):
        yield rows


def _first_month(piece: pd.DataFrame, time_column: str) -> pd.Timestamp | None:
    first = piece[time_column].iloc[0]
    return None if pd.isna(first) else month_of(first)


def _after_load(
    connection: Connection, table: Table, robot_id: str, counts: _FileRows, changed: int
) -> None:
    """Move rows of months without a partition out of the default partition, and refresh the
    1-minute rollups of the minutes the file touched when it added or replaced readings (our
    readings store only)."""
    settle_default(connection, table.name, counts.time_column)
    if changed and counts.first is not None and counts.last is not None and _is_store(table):
        refresh_rollups(connection, table, robot_id, counts.first, counts.last)


def _is_store(table: Table) -> bool:
    """Our readings store has rollups; a table of another name (a test's, a user's) has none."""
    return table.name == DEFAULT_READINGS_TABLE


def _chained(opening: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    yield opening
    yield from rest


class _FileRows:
    """Counts a file's rows and time span, and passes on the first reading of each instant
    (within a chunk, and at the seam of two chunks in time order)."""

    def __init__(self, time_column: str) -> None:
        self.time_column = time_column
        self.rows = 0
        self.first: pd.Timestamp | None = None
        self.last: pd.Timestamp | None = None

    def unique_rows(self, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            if chunk.empty:
                continue
            times = chunk[TIME_COLUMN]
            first, last = times.min(), times.max()
            repeated = times.duplicated(keep="first")
            if self.last is not None:
                repeated |= times == self.last  # the seam: the previous chunk has this instant
            self.rows += len(chunk)
            self.first = first if self.first is None else min(self.first, first)
            self.last = last if self.last is None else max(self.last, last)
            kept = chunk[~repeated.to_numpy()] if repeated.any() else chunk
            # Context columns only where the file has them: a robot without any writes
            # what it always wrote.
            context = [column for column in CONTEXT_COLUMNS if column in kept]
            stored = [self.time_column, *AXES, *context]
            yield kept.rename(columns={TIME_COLUMN: self.time_column})[stored]


def _is_unique_violation(error: IntegrityError) -> bool:
    code = getattr(error.orig, "pgcode", None)
    return code == _UNIQUE_VIOLATION or "UNIQUE constraint failed" in str(error.orig)


def _newest_time(connection: Connection, table: Table, robot_id: str) -> pd.Timestamp | None:
    time_column = table.c[time_column_of(table)]
    newest = connection.execute(
        select(func.max(time_column)).where(table.c.robot_id == robot_id)
    ).scalar()
    return None if newest is None else from_db_times(pd.Series([newest])).iloc[0]


def _earlier_version_stored(connection: Connection, robot_id: str, source: _Source) -> bool:
    """True when the robot has a file of this name ingested with other bytes."""
    earlier = select(ingested_files.c.ingest_id).where(
        ingested_files.c.robot_id == robot_id,
        ingested_files.c.file_name == source.file_name,
        ingested_files.c.content_sha256 != source.sha256(),
    )
    return connection.execute(earlier.limit(1)).first() is not None


def _record_ingest(
    connection: Connection,
    robot_id: str,
    source: _Source,
    counts: _FileRows,
    written: tuple[int, int],
) -> IngestResult:
    file_name, content_sha256 = source.file_name, source.sha256()
    added, replaced = written
    first, last = counts.first, counts.last
    connection.execute(
        ingested_files.insert().values(
            robot_id=robot_id,
            file_name=file_name,
            content_sha256=content_sha256,
            rows_in_file=counts.rows,
            rows_added=added,
            rows_present=counts.rows - added,
            first_ts=None if first is None else to_db_time(connection, first),
            last_ts=None if last is None else to_db_time(connection, last),
            ingested_at=to_db_time(connection, pd.Timestamp(datetime.now(UTC))),
        )
    )
    return IngestResult(file_name, counts.rows, added, counts.rows - added, first, last, replaced)


def _staged(
    connection: Connection, table: Table, frames: Iterable[pd.DataFrame], constants: dict
) -> Table:
    """``frames`` in a temporary table, to merge with :func:`_merge_staged`."""
    staging = _staging_table(table)
    staging.create(connection)
    bulk_insert(connection, staging, frames, constants)
    return staging


def _merge_staged(
    connection: Connection, table: Table, staging: Table, replace_changed: bool
) -> tuple[int, int]:
    """Insert the staged readings not stored yet with one set-based insert that skips existing
    ones (after, with ``replace_changed``, one update of the stored readings whose values
    differ), and drop the staging table; return how many were new and replaced."""
    replaced = (
        connection.execute(_update_changed_rows(table, staging)).rowcount if replace_changed else 0
    )
    added = connection.execute(_insert_new_rows(connection, table, staging)).rowcount
    staging.drop(connection)
    return added, replaced


def _update_changed_rows(table: Table, staging: Table):
    """UPDATE … FROM staging: the staged values at every stored instant whose values differ
    (NULL-safe: a NULL current and a number differ)."""
    time_column = time_column_of(table)
    differs = or_(*(table.c[axis].is_distinct_from(staging.c[axis]) for axis in AXES))
    return (
        update(table)
        .where(
            table.c.robot_id == staging.c.robot_id,
            table.c[time_column] == staging.c[time_column],
            differs,
        )
        .values({axis: staging.c[axis] for axis in AXES})
    )


def _staging_table(table: Table) -> Table:
    return Table(
        "pm_staging_readings",
        MetaData(),
        Column("robot_id", String(64)),
        Column(time_column_of(table), DateTime(timezone=True)),
        *(Column(axis, Float) for axis in AXES),
        *(Column(context, Float) for context in CONTEXT_COLUMNS),
        prefixes=["TEMPORARY"],
    )


def _insert_new_rows(bind: Engine | Connection, table: Table, staging: Table):
    dialect_insert = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
    names = [column.name for column in table.columns]
    # SQLite needs the WHERE to tell the upsert's ON CONFLICT apart from a join's ON.
    rows = select(*(staging.c[name] for name in names)).where(true())
    return dialect_insert(table).from_select(names, rows).on_conflict_do_nothing()
