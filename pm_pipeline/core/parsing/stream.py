"""Reading a controller export in chunks, at Arrow's speed, for files of any size.

:func:`open_export_stream` checks the header as :func:`~pm_pipeline.core.exports.parse_export`
does, then hands out the rows in chunks parsed by Arrow's streaming CSV reader (typed columns,
no Python object per cell, memory bounded by the block size). It takes the common case only:
ISO 8601 times with a zone, plain numbers, and the usual no-load words. Anything else (a value
Arrow cannot convert, a missing time, an implausible current) raises :class:`NeedsCarefulRead`
and the caller reads the file whole with ``parse_export``, which applies every documented
interpretation and names the line and column of a real error. So a file reads the same either
way; the stream is only faster.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.parsing.careful import (
    NO_LOAD_WORDS,
    PLAUSIBLE_AMPERES,
    FileLayout,
    ignored_columns_note,
    read_header,
    sniff_layout,
)
from pm_pipeline.core.parsing.encoding import UTF8
from pm_pipeline.core.parsing.format import ExportColumns, ExportFormat, resolve_columns
from pm_pipeline.core.parsing.limits import MAX_LINE_BYTES, line_too_long
from pm_pipeline.core.parsing.opened import (
    ExportSource,
    OpenedExport,
    binary,
    export_source,
    source_path,
)
from pm_pipeline.core.schema import AXES, TIME_COLUMN

DEFAULT_BLOCK_BYTES = 8 << 20
"""Bytes of CSV per chunk: about 130,000 rows of a controller export."""

# Arrow matches null words exactly; the usual spellings are listed, any other falls back.
_NULL_WORDS = sorted(
    {variant for word in NO_LOAD_WORDS for variant in (word, word.upper(), word.capitalize())}
    | {"NaN", "N/A"}
)


class NeedsCarefulRead(Exception):
    """The stream met something only the whole-file parser interprets; read it that way."""


@dataclass
class ExportStream:
    """One export, read chunk by chunk; ``rows`` and the notes grow as chunks are read."""

    source: ExportSource
    layout: FileLayout
    columns: ExportColumns
    fmt: ExportFormat
    block_bytes: int = DEFAULT_BLOCK_BYTES
    rows: int = 0
    bytes_read: int = 0
    """Bytes of the file (compressed, for a gzip file) read so far, for a progress bar."""
    _ignored_counts: dict[str, int] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """Where the file lies, for messages."""
        return source_path(self.source)

    def chunks(self) -> Iterator[pd.DataFrame]:
        """Canonical readings frames (as ``parse_export`` gives), in file order.

        Raises
        ------
        NeedsCarefulRead
            When a chunk holds anything beyond plain ISO 8601 times and numbers.
        """
        try:
            for piece in self._pieces():
                table = pacsv.read_csv(
                    io.BytesIO(piece),
                    read_options=self._read_options(),
                    parse_options=pacsv.ParseOptions(delimiter=self.layout.separator),
                    convert_options=self._convert_options(),
                )
                yield self._canonical(table.to_pandas())
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError, OSError) as error:
            raise NeedsCarefulRead(str(error)) from error
        if self.rows == 0:
            raise NeedsCarefulRead("no data rows")

    def _pieces(self) -> Iterator[bytes]:
        """The header line followed by about ``block_bytes`` of whole lines, piece by piece.

        Arrow's own streaming reader reads ahead as fast as the disk allows, which holds most
        of a big file in memory while parsing catches up; cutting pieces here bounds memory
        to one piece at a time.
        """
        with binary(self.source, self.layout.compression == "gzip") as handle:
            raw = getattr(handle, "fileobj", handle)  # gzip reads through to the file
            header = handle.readline()
            rest, lines = b"", 1  # lines: the header and the whole lines handed out
            while True:
                block = handle.read(self.block_bytes)
                self.bytes_read = raw.tell()
                if not block:
                    if rest.strip():
                        yield header + rest
                    return
                joined = rest + block
                cut = joined.rfind(b"\n") + 1
                if cut == 0:
                    if len(joined) > MAX_LINE_BYTES:
                        raise PipelineError(line_too_long(self.path, lines + 1))
                    rest = joined
                    continue
                rest = joined[cut:]
                lines += joined.count(b"\n", 0, cut)
                yield header + joined[:cut]

    def notes(self) -> tuple[str, ...]:
        """Notes on current read but not stored (axes beyond the robot's count)."""
        return ignored_columns_note(self.path, self._ignored_counts, self.fmt)

    def _read_options(self) -> pacsv.ReadOptions:
        # Arrow reads UTF-8 (and skips a byte-order mark) itself; another encoding it
        # transcodes through Python's codec. One thread: a piece is small, and a process
        # that ends while Arrow's thread pool still has a worker aborts at exit
        # ("terminate called without an active exception", apache/arrow#34314), so a
        # refused file would exit 134 instead of 1.
        if self.layout.encoding == UTF8:
            return pacsv.ReadOptions(use_threads=False)
        return pacsv.ReadOptions(encoding=self.layout.encoding, use_threads=False)

    def _convert_options(self) -> pacsv.ConvertOptions:
        numbers = self.columns.numeric
        return pacsv.ConvertOptions(
            include_columns=[self.columns.time, *numbers],
            column_types={
                self.columns.time: pa.timestamp("us", tz="UTC"),
                **{name: pa.float64() for name in numbers},
            },
            null_values=_NULL_WORDS,
            strings_can_be_null=True,
            decimal_point="," if self.layout.decimal_comma else ".",
        )

    def _canonical(self, raw: pd.DataFrame) -> pd.DataFrame:
        times = raw[self.columns.time]
        if times.isna().any():
            raise NeedsCarefulRead("a blank time")
        frame = pd.DataFrame({TIME_COLUMN: times.dt.as_unit("us")})
        for axis in AXES:
            column = self.columns.axes.get(axis)
            frame[axis] = raw[column].astype("float64") if column else np.nan
        for context, column in self.columns.context.items():
            frame[context] = raw[column].astype("float64")
        values = frame[list(self.columns.axes)].to_numpy(dtype="float64")
        if (np.abs(np.nan_to_num(values, nan=0.0)) > PLAUSIBLE_AMPERES).any():
            raise NeedsCarefulRead("an implausible current")
        for column in self.columns.ignored.values():
            carrying = raw[column].fillna(0.0).to_numpy(dtype="float64") != 0
            self._ignored_counts[column] = self._ignored_counts.get(column, 0) + int(carrying.sum())
        self.rows += len(frame)
        return frame


def open_export_stream(
    path: str | Path | OpenedExport, fmt: ExportFormat, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> ExportStream:
    """Check the file's layout and header, ready to stream its rows (from ``path``'s handle
    when it is an :class:`~pm_pipeline.core.parsing.opened.OpenedExport`).

    Raises
    ------
    PipelineError
        As ``parse_export`` does for a missing, binary or empty file or a header without the
        time or an axis column.
    """
    source = export_source(path)
    layout = sniff_layout(source, fmt.encoding)
    columns = resolve_columns(source_path(source), read_header(source, layout), fmt)
    return ExportStream(source, layout, columns, fmt, block_bytes)
