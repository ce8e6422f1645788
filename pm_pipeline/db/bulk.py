"""Bulk load and bulk read: Postgres ``COPY`` where available, portable SQLAlchemy otherwise.

These are the only two places that know about ``COPY``; everything else goes through them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
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

from pm_pipeline.db.timestamps import to_db_times


def bulk_insert(connection: Connection, table: Table, frame: pd.DataFrame) -> None:
    """Append ``frame`` to ``table`` inside the connection's transaction.

    Parameters
    ----------
    connection
        An open connection; its transaction decides whether the rows stay.
    table
        Target table; ``frame`` has exactly its column names, timestamps UTC-aware.
    frame
        Rows to append; NaN and NaT become NULL.
    """
    if frame.empty:
        return
    if connection.dialect.name == "postgresql":
        _copy_in(connection, table, frame)
    else:
        connection.execute(table.insert(), _records(connection, frame))


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


def _copy_in(connection: Connection, table: Table, frame: pd.DataFrame) -> None:
    preparer = connection.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(name) for name in frame.columns)
    buffer = io.BytesIO()
    # Arrow writes CSV several times faster than DataFrame.to_csv; NaN becomes an empty field,
    # which COPY reads as NULL, and timestamps carry a Z that Postgres reads as UTC.
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    pacsv.write_csv(arrow, buffer, pacsv.WriteOptions(include_header=False))
    buffer.seek(0)
    with _raw_cursor(connection) as cursor:
        cursor.copy_expert(
            f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN WITH (FORMAT csv)",
            buffer,
        )


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
