"""Reading controller CSV exports into the canonical readings frame.

Two header families are understood:

* the controller's own export: ``"Trait","Axis #1",…,"Axis #14","Time"`` (or ``time``),
  with ISO 8601 UTC timestamps such as ``2022-10-17T12:18:23.660Z``;
* the database layout: ``timestamp_recorded,axis_1,…,axis_8``.

Axes beyond the eighth are ignored. A blank current is kept as NaN, which the pipeline reads
as "no load at that instant", not as an error.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.schema import AXES, AXIS_COUNT, TIME_COLUMN

_TIME_NAMES = ("time", "timestamp_recorded", "timestamp")
_AXIS_PATTERN = re.compile(r"^\s*axis(?:\s*#\s*|_)(\d+)\s*$", re.IGNORECASE)
_HEADER_LINE = 1
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 4096
_NO_LOAD_WORDS = ("", "nan", "null", "na", "none")
_PLAUSIBLE_AMPERES = 1e5


def read_export(path: str | Path) -> pd.DataFrame:
    """Parse one controller export.

    Parameters
    ----------
    path
        The CSV file to read.

    Returns
    -------
    pandas.DataFrame
        Columns ``timestamp_recorded`` (UTC) and ``axis_1 … axis_8`` (float amperes, NaN where
        blank), in file order.

    Raises
    ------
    PipelineError
        When the file is empty, lacks a time or axis column, or holds an unparseable
        timestamp or a non-numeric current; the message names file, line and column.
    """
    path = Path(path)
    layout = sniff_layout(path)
    header = _read_header(path, layout)
    time_name = _find_time_column(path, header)
    axis_names = _find_axis_columns(path, header)
    try:
        raw = pd.read_csv(
            path,
            usecols=[time_name, *axis_names.values()],
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            skip_blank_lines=True,
            sep=layout.separator,
            compression=layout.compression,
        )
    except UnicodeDecodeError:
        raise PipelineError(f"{path}: not UTF-8 text throughout; export it again as CSV.") from None
    except pd.errors.ParserError as error:
        raise PipelineError(f"{path}: not a well-formed CSV ({error}); export it again.") from None
    if raw.empty:
        raise PipelineError(f"{path}: has a header but no readings; export a file with data rows.")
    frame = pd.DataFrame({TIME_COLUMN: _parse_times(path, raw[time_name], time_name)})
    for axis, column in axis_names.items():
        text = (
            raw[column].str.replace(",", ".", regex=False) if layout.decimal_comma else raw[column]
        )
        frame[axis] = _parse_currents(path, text, column)
    return frame


@dataclass(frozen=True)
class FileLayout:
    """How an export is stored: compression, field separator, decimal mark."""

    compression: Literal["gzip"] | None
    separator: str
    decimal_comma: bool


def sniff_layout(path: Path) -> FileLayout:
    """Look at the first bytes: gzip or plain, binary or text, ``,`` or ``;`` separated.

    A ``;``-separated file is taken to use decimal commas, as spreadsheets in most of Europe
    write them.

    Raises
    ------
    PipelineError
        When the file is missing or holds binary data.
    """
    if not path.is_file():
        raise PipelineError(f"{path}: no such file; check the path.")
    with path.open("rb") as handle:
        magic = handle.read(2)
    compression: Literal["gzip"] | None = "gzip" if magic == _GZIP_MAGIC else None
    opener = gzip.open if compression else open
    try:
        with opener(path, "rb") as handle:
            start = handle.read(_SNIFF_BYTES)
    except (OSError, EOFError):
        raise PipelineError(f"{path}: a damaged gzip file; export it again.") from None
    if b"\x00" in start:
        raise PipelineError(f"{path}: binary data, not a CSV export; export the data as CSV.")
    first_line = start.split(b"\n", 1)[0]
    semicolon = first_line.count(b";") > first_line.count(b",")
    return FileLayout(compression, ";" if semicolon else ",", semicolon)


def check_export_header(path: str | Path) -> None:
    """Cheaply check that a file looks like an export: a usable header and at least one row.

    Raises
    ------
    PipelineError
        As :func:`read_export` would for the header, or when no data row follows it.
    """
    path = Path(path)
    layout = sniff_layout(path)
    header = _read_header(path, layout)
    _find_time_column(path, header)
    _find_axis_columns(path, header)
    try:
        first = pd.read_csv(
            path,
            nrows=1,
            encoding="utf-8-sig",
            sep=layout.separator,
            compression=layout.compression,
        )
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise PipelineError(f"{path}: not a well-formed CSV ({error}); export it again.") from None
    if first.empty:
        raise PipelineError(f"{path}: has a header but no readings; export a file with data rows.")


def _read_header(path: Path, layout: FileLayout) -> list[str]:
    try:
        header = pd.read_csv(
            path,
            nrows=0,
            encoding="utf-8-sig",
            sep=layout.separator,
            compression=layout.compression,
        ).columns
    except pd.errors.EmptyDataError:
        raise PipelineError(
            f"{path}: the file is empty; export a file with a header and rows."
        ) from None
    except UnicodeDecodeError:
        raise PipelineError(f"{path}: not a UTF-8 text CSV; export the data as CSV text.") from None
    except pd.errors.ParserError as error:
        raise PipelineError(f"{path}: not a well-formed CSV ({error}); export it again.") from None
    return [str(name) for name in header]


def _find_time_column(path: Path, header: list[str]) -> str:
    for name in header:
        if name.strip().lower() in _TIME_NAMES:
            return name
    raise PipelineError(
        f"{path}: line {_HEADER_LINE}: no time column (expected one of "
        f"{', '.join(_TIME_NAMES)}; found {', '.join(header)}); add or rename it."
    )


def _find_axis_columns(path: Path, header: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in header:
        match = _AXIS_PATTERN.match(name)
        if match and 1 <= int(match.group(1)) <= AXIS_COUNT:
            found[f"axis_{int(match.group(1))}"] = name
    missing = [axis for axis in AXES if axis not in found]
    if missing:
        raise PipelineError(
            f"{path}: line {_HEADER_LINE}: missing current column(s) {', '.join(missing)} "
            f"(as 'Axis #N' or 'axis_N'); the pipeline expects {AXIS_COUNT} axes."
        )
    return {axis: found[axis] for axis in AXES}


def _parse_times(path: Path, text: pd.Series, column: str) -> pd.Series:
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        value = text.iloc[row]
        raise PipelineError(
            f"{path}: line {row + _HEADER_LINE + 1}, column {column!r}: cannot read timestamp "
            f"{value!r}; use ISO 8601 such as 2022-10-17T12:18:23.660Z."
        )
    return parsed.dt.as_unit("us")


def _parse_currents(path: Path, text: pd.Series, column: str) -> pd.Series:
    stripped = text.str.strip()
    # Blank, NaN and NULL all mean "no load at that instant", as a blank cell does.
    blank = stripped.str.lower().isin(_NO_LOAD_WORDS).to_numpy()
    values = pd.to_numeric(stripped.where(~blank), errors="coerce")
    bad = values.isna().to_numpy() & ~blank
    implausible = np.abs(values.to_numpy(dtype="float64", na_value=0.0)) > _PLAUSIBLE_AMPERES
    if bad.any() or implausible.any():
        row = int(np.argmax(bad | implausible))
        problem = "is not a number" if bad[row] else f"is beyond ±{_PLAUSIBLE_AMPERES:g} A"
        raise PipelineError(
            f"{path}: line {row + _HEADER_LINE + 1}, column {column!r}: current "
            f"{text.iloc[row]!r} {problem}; fix the value or leave it blank for no load."
        )
    return values.astype("float64")
