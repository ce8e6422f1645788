"""Reading controller CSV exports into the canonical readings frame.

Two header families are understood:

* the controller's own export: ``"Trait","Axis #1",…,"Axis #14","Time"`` (or ``time``),
  with ISO 8601 UTC timestamps such as ``2022-10-17T12:18:23.660Z``;
* the database layout: ``timestamp_recorded,axis_1,…,axis_8``.

Other names are read through ``PM_COLUMN_MAP``, and robots with fewer than eight axes through
``PM_AXIS_COUNT`` (see :mod:`pm_pipeline.core.parsing.format`). The frame always has the eight
axis columns of the readings table; axes beyond the robot's count are blank. Axes beyond the
eighth (or beyond the robot's count) are not stored: when such a column carries a non-zero
reading, :func:`parse_export` returns a note that says so (and :func:`read_export` logs it).
A blank current is kept as NaN, which the pipeline reads as "no load at that instant", not as
an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pm_pipeline.core.errors import PipelineError, capped, quoted
from pm_pipeline.core.parsing.encoding import UTF8, undecodable_message
from pm_pipeline.core.parsing.format import (
    AXIS_COUNT_VARIABLE,
    HEADER_LINE,
    ExportColumns,
    ExportFormat,
    resolve_columns,
)
from pm_pipeline.core.parsing.limits import check_line_lengths
from pm_pipeline.core.parsing.opened import (
    ExportSource,
    OpenedExport,
    binary,
    export_source,
    source_path,
)
from pm_pipeline.core.schema import AXES, TIME_COLUMN

_HEADER_LINE = HEADER_LINE
GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 4096
NO_LOAD_WORDS = ("", "nan", "null", "na", "none")
PLAUSIBLE_AMPERES = 1e5

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParsedExport:
    """One parsed export: the canonical readings and notes on what was read but not kept."""

    readings: pd.DataFrame
    notes: tuple[str, ...] = ()


def read_export(
    path: str | Path | OpenedExport, export_format: ExportFormat | None = None
) -> pd.DataFrame:
    """Parse one controller export; the readings of :func:`parse_export`, notes logged.

    A caller that reports to a user (the CLI, an asset) should call :func:`parse_export`
    and show its notes; this shortcut sends them to the ``pm_pipeline.core.exports`` logger
    at WARNING level, so they never vanish silently.
    """
    parsed = parse_export(path, export_format)
    for note in parsed.notes:
        logger.warning(note)
    return parsed.readings


def parse_export(
    path: str | Path | OpenedExport, export_format: ExportFormat | None = None
) -> ParsedExport:
    """Parse one controller export.

    Parameters
    ----------
    path
        The CSV file to read, or the file opened once (:mod:`.opened`).
    export_format
        Axis count and column map (from :mod:`pm_pipeline.config.settings` in the CLI and the
        assets); ``None`` is the default: 8 axes named the usual way.

    Returns
    -------
    ParsedExport
        ``readings``: columns ``timestamp_recorded`` (UTC) and ``axis_1 … axis_8`` (float
        amperes, NaN where blank and for axes beyond the robot's count), in file order.
        ``notes``: one line per kind of data read but not stored (current in axis columns
        beyond the robot's count), empty when nothing was dropped.

    Raises
    ------
    PipelineError
        When the file is empty, lacks a time or axis column, or holds an unparseable
        timestamp or a non-numeric current; the message names file, line and column.
    """
    source = export_source(path)
    path = source_path(source)
    fmt = ExportFormat() if export_format is None else export_format
    layout = sniff_layout(source, fmt.encoding)
    check_line_lengths(source, layout.compression == "gzip")
    columns = resolve_columns(path, read_header(source, layout), fmt)
    raw = _read_text(source, layout, [columns.time, *columns.numeric])
    frame = pd.DataFrame({TIME_COLUMN: _parse_times(path, raw[columns.time], columns.time)})
    for axis in AXES:
        if axis in columns.axes:
            column = columns.axes[axis]
            frame[axis] = _parse_currents(path, _decimal_points(raw[column], layout), column)
        else:
            frame[axis] = np.nan
    for context, column in columns.context.items():
        frame[context] = _parse_context(path, _decimal_points(raw[column], layout), column)
    return ParsedExport(frame, _ignored_notes(path, raw, columns, layout, fmt))


def _read_text(source: ExportSource, layout: FileLayout, usecols: list[str]) -> pd.DataFrame:
    return _read_rows(
        source, layout, usecols=usecols, dtype=str, keep_default_na=False, skip_blank_lines=True
    )


def _read_rows(source: ExportSource, layout: FileLayout, **options: Any) -> pd.DataFrame:
    """The file's rows as pandas reads them with ``options``; an undecodable, malformed or
    empty file is one error line naming the file."""
    path = source_path(source)
    try:
        raw = _read_csv(source, layout, **options)
    except UnicodeDecodeError:
        raise PipelineError(layout.undecodable(source)) from None
    except pd.errors.ParserError as error:
        raise PipelineError(
            f"{path}: not a well-formed CSV ({capped(error)}); export it again."
        ) from None
    if raw.empty:
        raise PipelineError(f"{path}: has a header but no readings; export a file with data rows.")
    return raw


def _decimal_points(text: pd.Series, layout: FileLayout) -> pd.Series:
    return text.str.replace(",", ".", regex=False) if layout.decimal_comma else text


def _ignored_notes(
    path: Path, raw: pd.DataFrame, columns: ExportColumns, layout: FileLayout, fmt: ExportFormat
) -> tuple[str, ...]:
    """One note naming the not-stored current columns that hold a non-zero reading."""
    counts = {}
    for column in columns.ignored.values():
        stripped = _decimal_points(raw[column], layout).str.strip()
        blank = stripped.str.lower().isin(NO_LOAD_WORDS)
        zero = pd.to_numeric(stripped.where(~blank), errors="coerce") == 0
        counts[column] = int((~blank & ~zero).sum())
    return ignored_columns_note(path, counts, fmt)


def ignored_columns_note(path: Path, counts: dict[str, int], fmt: ExportFormat) -> tuple[str, ...]:
    """The note for current columns not stored, from each column's count of non-zero readings
    (empty when none carries any)."""
    carrying = [
        f"{quoted(column)} ({count} non-zero reading{'' if count == 1 else 's'})"
        for column, count in counts.items()
        if count
    ]
    if not carrying:
        return ()
    kept = "axis 1" if fmt.axis_count == 1 else f"axes 1-{fmt.axis_count}"
    return (
        f"{path}: current column(s) {', '.join(carrying)} hold current that is not "
        f"stored: the pipeline keeps {kept} ({AXIS_COUNT_VARIABLE}={fmt.axis_count}, at most "
        f"{len(AXES)}); raise {AXIS_COUNT_VARIABLE} if the robot has more axes.",
    )


@dataclass(frozen=True)
class FileLayout:
    """How an export is stored: compression, field separator, decimal mark."""

    compression: Literal["gzip"] | None
    separator: str
    decimal_comma: bool
    encoding: str = UTF8

    @property
    def text_encoding(self) -> str:
        """The codec that reads the file: UTF-8 skips a byte-order mark."""
        return "utf-8-sig" if self.encoding == UTF8 else self.encoding

    def undecodable(self, source: ExportSource) -> str:
        """The message for a file that is not text in this encoding."""
        return undecodable_message(source, self.compression == "gzip", self.text_encoding)


def sniff_layout(source: ExportSource, encoding: str = UTF8) -> FileLayout:
    """Look at the first bytes: gzip or plain, binary or text, ``,`` or ``;`` separated.

    A ``;``-separated file is taken to use decimal commas, as spreadsheets in most of Europe
    write them.

    Raises
    ------
    PipelineError
        When the file is missing or holds binary data.
    """
    path = source_path(source)
    if not isinstance(source, OpenedExport) and not path.is_file():
        raise PipelineError(f"{path}: no such file; check the path.")
    with binary(source) as handle:
        magic = handle.read(2)
    compression: Literal["gzip"] | None = "gzip" if magic == GZIP_MAGIC else None
    try:
        with binary(source, gzipped=compression == "gzip") as handle:
            start = handle.read(_SNIFF_BYTES)
    except (OSError, EOFError):
        raise PipelineError(f"{path}: a damaged gzip file; export it again.") from None
    if b"\x00" in start:
        raise PipelineError(f"{path}: binary data, not a CSV export; export the data as CSV.")
    first_line = start.split(b"\n", 1)[0]
    semicolon = first_line.count(b";") > first_line.count(b",")
    return FileLayout(compression, ";" if semicolon else ",", semicolon, encoding)


def check_export_header(
    path: str | Path | OpenedExport, export_format: ExportFormat | None = None
) -> None:
    """Cheaply check that a file looks like an export: a usable header and at least one row.

    ``export_format`` as for :func:`parse_export` (``None``: the default format).

    Raises
    ------
    PipelineError
        As :func:`read_export` would for the header, or when no data row follows it.
    """
    source = export_source(path)
    fmt = ExportFormat() if export_format is None else export_format
    layout = sniff_layout(source, fmt.encoding)
    check_line_lengths(source, layout.compression == "gzip", lines=2)
    resolve_columns(source_path(source), read_header(source, layout), fmt)
    _read_rows(source, layout, nrows=1)


def read_header(source: ExportSource, layout: FileLayout) -> list[str]:
    path = source_path(source)
    check_line_lengths(source, layout.compression == "gzip", lines=1)
    try:
        header = _read_csv(source, layout, nrows=0).columns
    except pd.errors.EmptyDataError:
        raise PipelineError(
            f"{path}: the file is empty; export a file with a header and rows."
        ) from None
    except UnicodeDecodeError:
        raise PipelineError(layout.undecodable(source)) from None
    except pd.errors.ParserError as error:
        raise PipelineError(
            f"{path}: not a well-formed CSV ({capped(error)}); export it again."
        ) from None
    return [str(name) for name in header]


def _read_csv(source: ExportSource, layout: FileLayout, **options: Any) -> pd.DataFrame:
    """``pandas.read_csv`` with the file's layout (encoding, separator, gzip)."""
    with binary(source) as handle:
        return pd.read_csv(
            handle,
            encoding=layout.text_encoding,
            sep=layout.separator,
            compression=layout.compression,
            **options,
        )


def _parse_times(path: Path, text: pd.Series, column: str) -> pd.Series:
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        value = text.iloc[row]
        raise PipelineError(
            f"{path}: line {row + _HEADER_LINE + 1}, column {quoted(column)}: cannot read "
            f"timestamp {quoted(value)}; use ISO 8601 such as 2022-10-17T12:18:23.660Z."
        )
    return parsed.dt.as_unit("us")


def _parse_currents(path: Path, text: pd.Series, column: str) -> pd.Series:
    stripped = text.str.strip()
    # Blank, NaN and NULL all mean "no load at that instant", as a blank cell does.
    blank = stripped.str.lower().isin(NO_LOAD_WORDS).to_numpy()
    values = pd.to_numeric(stripped.where(~blank), errors="coerce")
    bad = values.isna().to_numpy() & ~blank
    implausible = np.abs(values.to_numpy(dtype="float64", na_value=0.0)) > PLAUSIBLE_AMPERES
    if bad.any() or implausible.any():
        row = int(np.argmax(bad | implausible))
        problem = "is not a number" if bad[row] else f"is beyond ±{PLAUSIBLE_AMPERES:g} A"
        raise PipelineError(
            f"{path}: line {row + _HEADER_LINE + 1}, column {quoted(column)}: current "
            f"{quoted(text.iloc[row])} {problem}; fix the value or leave it blank for no load."
        )
    return values.astype("float64")


def _parse_context(path: Path, text: pd.Series, column: str) -> pd.Series:
    """A context column's numbers (a temperature, a speed, a program number); blank or a
    no-load word is no reading."""
    stripped = text.str.strip()
    blank = stripped.str.lower().isin(NO_LOAD_WORDS).to_numpy()
    values = pd.to_numeric(stripped.where(~blank), errors="coerce")
    bad = values.isna().to_numpy() & ~blank
    if bad.any():
        row = int(np.argmax(bad))
        raise PipelineError(
            f"{path}: line {row + _HEADER_LINE + 1}, column {column!r}: context value "
            f"{text.iloc[row]!r} is not a number; fix the value, leave it blank, or remove the "
            "column from the robots file's context_columns."
        )
    return values.astype("float64")
