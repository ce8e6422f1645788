"""Rows for Postgres ``COPY … FROM STDIN``: binary where the columns allow, CSV otherwise.

Binary rows are built column-wise with numpy (no Python object per cell and no number
formatting, on either side of the connection); they suit frames of float and UTC time
columns written to ``double precision`` and ``timestamptz`` columns, as the readings table
has. Any other frame goes as CSV written by Arrow.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
"""Signature, flags and header-extension length of the binary COPY format."""
BINARY_TRAILER = struct.pack(">h", -1)
_POSTGRES_EPOCH_US = 946_684_800 * 1_000_000  # 2000-01-01T00:00:00Z in Unix microseconds
_NULL_LENGTH = -1

Encoder = Callable[[pd.DataFrame], bytes]


def binary_ready(frame: pd.DataFrame) -> bool:
    """Whether every column of ``frame`` is float64 or a UTC-aware timestamp."""
    return all(
        isinstance(dtype, pd.DatetimeTZDtype) or dtype == np.float64 for dtype in frame.dtypes
    )


def binary_rows(constants: dict[str, str]) -> Encoder:
    """An encoder of frames (see :func:`binary_ready`) to binary COPY rows, with the
    ``constants`` (text columns, same value in every row) first.

    Parameters
    ----------
    constants
        Column name to text value, written before the frame's columns.

    Returns
    -------
    Callable
        Frame to bytes; NaN and NaT become NULL.
    """
    texts = [value.encode() for value in constants.values()]

    def encode(frame: pd.DataFrame) -> bytes:
        fields: list[tuple[str, str]] = [("count", ">i2")]
        values: dict[str, object] = {"count": len(texts) + frame.shape[1]}
        for position, text in enumerate(texts):
            fields += [(f"c{position}_len", ">i4"), (f"c{position}", f"S{len(text)}")]
            values |= {f"c{position}_len": len(text), f"c{position}": text}
        nulls = {}
        for position, name in enumerate(frame.columns):
            data, null, kind = _column(frame[name])
            fields += [(f"f{position}_len", ">i4"), (f"f{position}", kind)]
            values |= {f"f{position}_len": np.where(null, _NULL_LENGTH, 8), f"f{position}": data}
            nulls[f"f{position}"] = null
        rows = np.empty(len(frame), dtype=np.dtype(fields))
        for field, value in values.items():
            rows[field] = value
        if not any(null.any() for null in nulls.values()):
            return rows.tobytes()
        # A NULL is its length alone: drop the 8 value bytes of every NULL cell.
        cells = rows.view(np.uint8).reshape(len(frame), rows.dtype.itemsize)
        keep = np.ones(cells.shape, dtype=bool)
        for field, null in nulls.items():
            offset = rows.dtype.fields[field][1]  # type: ignore[index]
            keep[null, offset : offset + 8] = False
        return cells[keep].tobytes()

    return encode


def _column(values: pd.Series) -> tuple[np.ndarray, np.ndarray, str]:
    """Big-endian-ready data, NULL mask and numpy type of one column."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        null = values.isna().to_numpy()
        micros = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
        return micros.view("i8") - _POSTGRES_EPOCH_US, null, ">i8"
    data = values.to_numpy(dtype="float64")
    return data, np.isnan(data), ">f8"


def csv_rows(constants: dict[str, str], names: list[str]) -> Encoder:
    """An encoder of any frame to CSV rows in the column order ``names``.

    Arrow writes CSV several times faster than ``DataFrame.to_csv``; NaN becomes an empty
    field, which COPY reads as NULL. UTC timestamps are written without their offset (Arrow
    writes an offset ten times slower), so the COPY must run with ``TimeZone`` UTC.
    """

    def encode(frame: pd.DataFrame) -> bytes:
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        for position, column in enumerate(arrow.columns):
            if pa.types.is_timestamp(column.type) and column.type.tz is not None:
                naive = column.cast(pa.timestamp(column.type.unit))  # the same UTC instants
                arrow = arrow.set_column(position, arrow.column_names[position], naive)
        for position, (name, value) in enumerate(constants.items()):
            arrow = arrow.add_column(position, name, pa.array([value] * len(frame)))
        sink = io.BytesIO()
        pacsv.write_csv(arrow.select(names), sink, pacsv.WriteOptions(include_header=False))
        return sink.getvalue()

    return encode
