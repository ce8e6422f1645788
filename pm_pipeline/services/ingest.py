"""Ingest one controller export: the one path for ``pm-pipeline ingest``, ``run`` and scoring.

The file streams through Arrow's chunked reader (:func:`open_export_stream`) in time order,
each chunk handed to an optional sink (scoring's detector) and written to the database, all
in one transaction; scoring stores the file's events in that transaction too, before it
commits (``before_commit``), so readings and events change together or not at all.

A file the stream cannot take as it is (an unusual spelling of a value, a time without an
offset, readings out of time order) is read whole by the careful parser instead, with the
same stored rows; a real error in it names file, line and column and stores nothing.

The collision rule is :mod:`pm_pipeline.db.ingest`'s: a reading is identified by robot and
timestamp, one already stored is kept, and within a file the first reading of an instant
wins.

This module imports no Dagster and no detector, so the command line starts fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd
from sqlalchemy import Connection, Engine, Table
from sqlalchemy.exc import DBAPIError

from pm_pipeline.core.parsing.careful import parse_export
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.parsing.opened import OpenedExport, source_path
from pm_pipeline.core.parsing.stream import (
    ExportStream,
    NeedsCarefulRead,
    open_export_stream,
)
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.failures import database_failure
from pm_pipeline.db.ingest import AppendCollided, FileHash, IngestResult, ingest_readings

INGEST_BLOCK_BYTES = 2 << 20
"""Bytes of CSV per chunk when ingesting (about 30,000 readings). A chunk's rows then fit in
the connection's buffers, so Postgres stores one chunk while the next is parsed, and the
command peaks near 210 MB where 8 MB chunks need 340 MB, at the same speed or better
(``benchmarks/bench_ingest.py``)."""


class ReadingsSink(Protocol):
    """Something that takes a file's readings chunk by chunk, in time order."""

    def push(self, readings: pd.DataFrame) -> None: ...


@dataclass(frozen=True)
class IngestedExport:
    """What ingesting one export did."""

    ingest: IngestResult
    notes: tuple[str, ...]
    """Current read but not stored (axes beyond the robot's count), one line per kind."""
    streamed: bool
    """False when the file was read whole by the careful parser."""
    sink: ReadingsSink | None = None
    """The sink every chunk went through, when streamed."""
    readings: pd.DataFrame | None = None
    """The whole file's readings, in file order, when it was read whole."""


BeforeCommit = Callable[[Connection, IngestedExport], None]
"""Work done in the ingest's transaction after the readings are written, before it commits
(scoring stores the file's events there): if it raises, nothing of the file is stored."""


def ingest_export(
    engine: Engine,
    table: Table,
    robot_id: str,
    path: Path | OpenedExport,
    content_sha256: FileHash,
    fmt: ExportFormat,
    *,
    file_name: str | None = None,
    new_sink: Callable[[Connection], ReadingsSink] | None = None,
    block_bytes: int = INGEST_BLOCK_BYTES,
    progress: Callable[[int], object] | None = None,
    before_commit: BeforeCommit | None = None,
) -> IngestedExport:
    """Store the export's readings that are not stored yet; the whole file or nothing.

    Parameters
    ----------
    engine, table, robot_id
        Where the readings go.
    path, content_sha256, file_name
        The export (a path, or the file opened once, whose every pass reads its handle),
        its hash (or what gives it once the file is read), and the name recorded for it
        (the file's name by default).
    fmt
        Axis count and column map of the robot's controller.
    new_sink
        Makes the sink that sees every chunk inside the transaction (a fresh one per pass),
        given the transaction's connection to read stored readings through.
    block_bytes
        Bytes of CSV per chunk.
    progress
        Called with the bytes of the file read so far, after each chunk.
    before_commit
        Called in the transaction once the readings are written (see :data:`BeforeCommit`).

    Raises
    ------
    PipelineError
        When the file is not a readable export; the message names file, line and column.
    """
    name = file_name or source_path(path).name
    # A new export starts after the newest stored reading and is appended directly; if
    # another writer got there first, it is streamed again through staging.
    for append_directly in (True, False):
        export = open_export_stream(path, fmt, block_bytes)
        try:
            with _storing(engine, name) as connection:
                sink = new_sink(connection) if new_sink else None
                chunks = _in_time_order(export, sink, progress)
                result = ingest_readings(
                    connection, table, chunks, robot_id, name, content_sha256, append_directly
                )
                done = IngestedExport(result, (*export.notes(), *_replaced(result)), True, sink)
                if before_commit is not None:
                    before_commit(connection, done)
        except AppendCollided:
            continue
        except NeedsCarefulRead:
            break  # rolled back: nothing was stored; read it whole below
        return done
    parsed = parse_export(path, fmt)
    whole = _WholeFile(engine, table, robot_id, name, content_sha256, before_commit)
    try:
        return whole.store(parsed.readings, parsed.notes, append_directly=True)
    except AppendCollided:
        return whole.store(parsed.readings, parsed.notes, append_directly=False)


@dataclass(frozen=True)
class _WholeFile:
    """Stores a file read whole, in one transaction with ``before_commit``'s work."""

    engine: Engine
    table: Table
    robot_id: str
    name: str
    content_sha256: FileHash
    before_commit: BeforeCommit | None

    def store(
        self, readings: pd.DataFrame, notes: Iterable[str], append_directly: bool
    ) -> IngestedExport:
        with _storing(self.engine, self.name) as connection:
            result = ingest_readings(
                connection,
                self.table,
                readings,
                self.robot_id,
                self.name,
                self.content_sha256,
                append_directly,
            )
            done = IngestedExport(result, (*notes, *_replaced(result)), False, readings=readings)
            if self.before_commit is not None:
                self.before_commit(connection, done)
        return done


@contextmanager
def _storing(engine: Engine, name: str) -> Iterator[Connection]:
    """One transaction storing the file: committed when the block ends, else rolled back;
    a lost connection or a full disk comes out as its one-line meaning."""
    try:
        with engine.begin() as connection:
            yield connection
    except DBAPIError as error:
        _raise_meaning(error, name)
        raise


def _raise_meaning(error: DBAPIError, name: str) -> None:
    """Raise the one-line meaning of a lost connection or a full disk (the transaction rolled
    back, so nothing of the file is stored); return for any other error."""
    failure = database_failure(error, f"storing the readings of {name}")
    if failure is not None:
        raise failure from error


def _replaced(result: IngestResult) -> list[str]:
    if not result.rows_replaced:
        return []
    return [
        f"{result.file_name} is a new version of a file ingested before: "
        f"{result.rows_replaced} stored readings now hold its values"
    ]


def _in_time_order(
    export: ExportStream, sink: ReadingsSink | None, progress: Callable[[int], object] | None
) -> Iterator[pd.DataFrame]:
    """The stream's chunks, each pushed to the sink; readings that run backwards (which only
    the whole-file read puts in order) raise :class:`NeedsCarefulRead`."""
    last: pd.Timestamp | None = None
    for chunk in export.chunks():
        times = chunk[TIME_COLUMN]
        if not times.is_monotonic_increasing or (last is not None and times.iloc[0] < last):
            raise NeedsCarefulRead("readings out of time order")
        last = times.iloc[-1]
        if sink is not None:
            sink.push(chunk)
        if progress is not None:
            progress(export.bytes_read)
        yield chunk
