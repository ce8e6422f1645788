"""Bulk load and bulk read: Postgres ``COPY`` where available, portable SQLAlchemy otherwise.

These are the only two places that know about ``COPY``; everything else goes through them.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, DateTime, Float, Integer, Numeric, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeEngine

from pm_pipeline.db.copy_formats import (
    BINARY_HEADER,
    BINARY_TRAILER,
    Encoder,
    binary_ready,
    binary_rows,
    csv_rows,
)
from pm_pipeline.db.timestamps import to_db_times

_COPY_READ_BYTES = 1 << 20


def bulk_insert(
    connection: Connection,
    table: Table,
    frames: Iterable[pd.DataFrame],
    constants: Mapping[str, str] | None = None,
) -> int:
    """Append every frame to ``table`` inside the connection's transaction.

    Parameters
    ----------
    connection
        An open connection; its transaction decides whether the rows stay.
    table
        Target table; each frame has column names of it, timestamps UTC-aware.
    frames
        Rows to append, consumed lazily; NaN and NaT become NULL. An exception raised while
        producing a frame propagates unchanged (the rows so far stay in the transaction,
        which the caller then rolls back).
    constants
        Columns with the same value in every row (such as ``robot_id``).

    Returns
    -------
    int
        Rows appended.
    """
    constants = dict(constants or {})
    if connection.dialect.name != "postgresql":
        written = 0
        for frame in frames:
            if not frame.empty:
                records = _records(connection, frame.assign(**constants))
                connection.execute(table.insert(), records)
                written += len(frame)
        return written
    return _copy_in(connection, table, frames, constants)


def bulk_read(connection: Connection, query: Select) -> pd.DataFrame:
    """Run ``query`` and return its rows as a frame.

    On Postgres the result streams through ``COPY (query) TO STDOUT`` as CSV and is parsed by
    Arrow's multi-threaded reader, which avoids building one Python object per cell.
    Timestamps come back UTC-aware on Postgres and as the driver gives them elsewhere.
    """
    if connection.dialect.name != "postgresql":
        return pd.read_sql(query, connection)
    # IN lists are expanded here, so mogrify sees plain parameters.
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    buffer = io.BytesIO()
    with _raw_cursor(connection) as cursor:
        bound = cursor.mogrify(str(compiled), compiled.params).decode()
        cursor.copy_expert(f"COPY ({bound}) TO STDOUT WITH (FORMAT csv, HEADER)", buffer)
    buffer.seek(0)
    types = {column.name: _arrow_type(column.type) for column in query.selected_columns}
    options = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    return pacsv.read_csv(buffer, convert_options=options).to_pandas()


def _copy_in(
    connection: Connection, table: Table, frames: Iterable[pd.DataFrame], constants: dict
) -> int:
    """One ``COPY … FROM STDIN`` fed frame by frame: the server stores one piece while the
    next is encoded, and a file's rows go in as one statement (binary where the frame's
    columns allow, see :mod:`pm_pipeline.db.copy_formats`)."""
    pending = iter(frames)
    first = next((frame for frame in pending if not frame.empty), None)
    if first is None:
        return 0
    names = [*constants, *first.columns]
    preparer = connection.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(name) for name in names)
    binary = binary_ready(first)
    encode = binary_rows(constants) if binary else csv_rows(constants, names)
    source = _CopySource(itertools.chain([first], pending), encode, binary)
    with _raw_cursor(connection) as cursor:
        # CSV times are UTC wall-clock text: read them in UTC, then restore the session's zone.
        cursor.execute("SELECT current_setting('TimeZone')")
        (zone,) = cursor.fetchone()
        cursor.execute("SELECT set_config('TimeZone', 'UTC', true)")
        cursor.copy_expert(
            f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN "
            f"WITH (FORMAT {'binary' if binary else 'csv'})",
            source,
            size=_COPY_READ_BYTES,
        )
        cursor.execute("SELECT set_config('TimeZone', %s, true)", (zone,))
    if source.error is not None:
        raise source.error
    return source.rows


class _CopySource:
    """A file-like object COPY reads: each frame encoded when the previous one is sent.

    psycopg2 would turn an exception raised inside ``read`` into a bare "COPY failed", so
    one is kept, the COPY ends, and the caller raises it.
    """

    def __init__(self, frames: Iterator[pd.DataFrame], encode: Encoder, binary: bool) -> None:
        self.frames, self.encode = frames, encode
        self.buffer = memoryview(BINARY_HEADER if binary else b"")
        self.trailer = BINARY_TRAILER if binary else b""
        self.rows = 0
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        while not self.buffer and self.frames is not None:
            try:
                frame = next(self.frames, None)
            except Exception as error:  # re-raised by the caller once COPY has ended
                self.error, frame = error, None
            if frame is None:
                # The binary trailer even after an error: COPY ends cleanly, the caller raises.
                self.frames, self.buffer = None, memoryview(self.trailer)
                break
            self.rows += len(frame)
            self.buffer = memoryview(self.encode(frame))
        piece, self.buffer = self.buffer[:size], self.buffer[size:]
        return bytes(piece)


@contextmanager
def _raw_cursor(connection: Connection) -> Iterator[Any]:
    """A psycopg2 cursor on the connection's transaction; driver errors come out as SQLAlchemy's
    (IntegrityError, OperationalError, …), as they would from ``connection.execute``."""
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dbapi.Error as error:
        raise DBAPIError.instance("COPY", None, error, dbapi.Error) from error
    finally:
        cursor.close()


def _records(connection: Connection, frame: pd.DataFrame) -> list[dict]:
    columns: dict[str, list] = {}
    for name in frame.columns:
        values = frame[name]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            columns[name] = to_db_times(connection, values)
        elif pd.api.types.is_float_dtype(values.dtype):
            cells = values.to_numpy(dtype="float64").astype(object)
            cells[np.isnan(values.to_numpy(dtype="float64"))] = None
            columns[name] = cells.tolist()
        else:
            columns[name] = values.tolist()
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _arrow_type(sql_type: TypeEngine) -> pa.DataType:
    if isinstance(sql_type, DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(sql_type, Float | Numeric):
        return pa.float64()
    if isinstance(sql_type, Integer):
        return pa.int64()
    return pa.string()
