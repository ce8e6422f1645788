"""How a controller's export names its columns, and how many axes the robot has.

Two settings, read by :mod:`pm_pipeline.config.settings` when a command or run starts, which builds
the :class:`ExportFormat` handed to the parser:

* ``PM_AXIS_COUNT`` (default 8, at most 8): the robot's axes. A file must carry a current
  column for each of axes 1…N; axes N+1…8 are stored blank, which reads as "no load", and no
  model is fitted for an axis without readings. Current columns of higher axes (up to
  ``Axis #14`` in the controller's export) are never stored: when one carries a non-zero
  reading, :func:`pm_pipeline.core.exports.parse_export` returns a note saying so, which the
  CLI prints and the assets log, so data never vanishes silently.
* ``PM_COLUMN_MAP``: a JSON object from canonical names (``time``, ``axis_1`` … ``axis_8``)
  to the file's own column names, for controllers that name them differently, for example
  ``{"time": "Zeitstempel", "axis_1": "I_Motor1"}``. Columns left out of the map are found as
  usual (``Time``, ``time``, ``timestamp``, ``timestamp_recorded``; ``Axis #N``, ``axis_N``).
  Names match ignoring case and surrounding spaces; a column the map uses is never matched by
  the usual rules, so a map can also swap columns.

A bad setting raises :class:`ExportSettingError` (a
:class:`~pm_pipeline.core.errors.SettingsError`) naming the variable and the key, and saying
what to write instead. It is the setting's fault, not the file's: the drop-folder sensor lets
it fail the tick instead of quarantining files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pm_pipeline.core.errors import PipelineError, SettingsError, quoted
from pm_pipeline.core.parsing.encoding import UTF8, check_encoding
from pm_pipeline.core.schema import AXES, AXIS_COUNT, CONTEXT_COLUMNS, CONTEXT_COUNT

AXIS_COUNT_VARIABLE = "PM_AXIS_COUNT"
COLUMN_MAP_VARIABLE = "PM_COLUMN_MAP"
TIME_KEY = "time"
CANONICAL_KEYS: tuple[str, ...] = (TIME_KEY, *AXES)
HEADER_LINE = 1
TIME_NAMES = ("time", "timestamp_recorded", "timestamp")
AXIS_PATTERN = re.compile(r"^\s*axis(?:\s*#\s*|_)(\d+)\s*$", re.IGNORECASE)
COLUMN_MAP_EXAMPLE = '{"time": "Zeitstempel", "axis_1": "I_Motor1"}'
CONTEXT_KEY = "context_columns"


class ExportSettingError(SettingsError):
    """``PM_AXIS_COUNT`` or ``PM_COLUMN_MAP`` is malformed: fix the setting, not the file."""


@dataclass(frozen=True)
class ExportFormat:
    """The robot's axis count and the file's column names, validated on construction.

    Parameters
    ----------
    axis_count
        Axes the robot has, 1…8; a file must carry axes 1…``axis_count``.
    column_map
        Canonical name (``time``, ``axis_N``) → the file's column name.
    encoding
        The files' text encoding (the robots file's ``encoding`` key): UTF-8, or an
        ASCII-compatible one such as ``cp1252``; stored under Python's name for it.
    """

    axis_count: int = AXIS_COUNT
    column_map: Mapping[str, str] = field(default_factory=dict)
    encoding: str = UTF8
    context_columns: tuple[str, ...] = ()
    """The file's context columns (a robots file's ``context_columns``), stored in this order
    as ``context_1 …``: model inputs that never alarm."""

    def __post_init__(self) -> None:
        _check_axis_count(self.axis_count)
        _check_column_map(self.column_map, self.axis_count)
        try:
            object.__setattr__(self, "encoding", check_encoding(self.encoding))
        except ValueError as error:
            raise ExportSettingError(str(error)) from None
        check_context_columns(self.context_columns, self.column_map)

    @property
    def contexts(self) -> dict[str, str]:
        """Canonical context column → the file's column, in the configured order."""
        return dict(zip(CONTEXT_COLUMNS, self.context_columns, strict=False))

    @property
    def axes(self) -> tuple[str, ...]:
        """The robot's axes, ``axis_1 … axis_<axis_count>``."""
        return AXES[: self.axis_count]


def axis_count_message(value: object) -> str:
    """The one message for an axis count that is not a whole number from 1 to 8."""
    return (
        f"{AXIS_COUNT_VARIABLE}: {value!r} is not a whole number from 1 to {AXIS_COUNT}; set it "
        f"to the number of axes the robot has (the readings table stores up to {AXIS_COUNT} "
        f"axes; unset means {AXIS_COUNT})."
    )


def _check_axis_count(count: object) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= AXIS_COUNT:
        raise ExportSettingError(axis_count_message(count))


def _check_column_map(content: object, axis_count: int) -> None:
    if not isinstance(content, Mapping):
        raise ExportSettingError(
            f"{COLUMN_MAP_VARIABLE}: expected a JSON object from canonical name to the file's "
            f"column name, such as {COLUMN_MAP_EXAMPLE}; got {type(content).__name__}."
        )
    seen: dict[str, str] = {}
    for key, source in content.items():
        if key not in CANONICAL_KEYS:
            raise ExportSettingError(
                f"{COLUMN_MAP_VARIABLE}: key {key!r} is not a canonical column; use "
                f"'{TIME_KEY}' or 'axis_1' … 'axis_{AXIS_COUNT}'."
            )
        if key != TIME_KEY and AXES.index(key) >= axis_count:
            raise ExportSettingError(
                f"{COLUMN_MAP_VARIABLE}: key {key!r} maps an axis beyond "
                f"{AXIS_COUNT_VARIABLE}={axis_count}; remove it or raise {AXIS_COUNT_VARIABLE}."
            )
        if not isinstance(source, str) or not source.strip():
            raise ExportSettingError(
                f"{COLUMN_MAP_VARIABLE}: key {key!r}: {source!r} is not a column name; give the "
                "file's column name as a non-empty JSON string."
            )
        folded = _fold(source)
        if folded in seen:
            raise ExportSettingError(
                f"{COLUMN_MAP_VARIABLE}: keys {seen[folded]!r} and {key!r} both name column "
                f"{source!r}; map each file column to one canonical name."
            )
        seen[folded] = key


def check_context_columns(names: object, column_map: Mapping[str, str]) -> None:
    """Raise :class:`ExportSettingError` unless ``names`` is a list of at most 16 distinct
    column names, none of them mapped to the time or an axis."""
    if not isinstance(names, tuple | list) or len(names) > CONTEXT_COUNT:
        raise ExportSettingError(
            f"{CONTEXT_KEY}: expected a list of at most {CONTEXT_COUNT} column names of the "
            f"export, such as [Temperature_J0, Speed_J0]; got {names!r}."
        )
    seen = {_fold(source): key for key, source in column_map.items()}
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ExportSettingError(
                f"{CONTEXT_KEY}: {name!r} is not a column name; list the export's column names."
            )
        if _fold(name) in seen:
            raise ExportSettingError(
                f"{CONTEXT_KEY}: column {name!r} is listed twice, or is already "
                f"{seen[_fold(name)]!r}; name each file column once."
            )
        seen[_fold(name)] = CONTEXT_KEY


@dataclass(frozen=True)
class ExportColumns:
    """Which file columns hold what: the time, the robot's axes, current columns not stored
    (axis number → column name), and context columns (``context_N`` → column name)."""

    time: str
    axes: dict[str, str]
    ignored: dict[int, str]
    context: dict[str, str] = field(default_factory=dict)

    @property
    def numeric(self) -> list[str]:
        """Every file column read as a number: currents stored or not, and context."""
        return [*self.axes.values(), *self.ignored.values(), *self.context.values()]


def resolve_columns(path: Path, header: list[str], fmt: ExportFormat) -> ExportColumns:
    """Match a file's header to the canonical columns.

    Raises
    ------
    PipelineError
        When the time column or one of the robot's axes is missing; the message names the
        file, line 1, the missing names and the setting that would fix it.
    """
    mapped = {key: _find_mapped(header, source) for key, source in fmt.column_map.items()}
    context = _context_columns(path, header, fmt)
    used = {name for name in [*mapped.values(), *context.values()] if name is not None}
    free = [name for name in header if name not in used]
    time = mapped.get(TIME_KEY) if TIME_KEY in fmt.column_map else _usual_time(free)
    if time is None:
        raise PipelineError(_missing_time_message(path, header, fmt))
    numbered: dict[int, str] = {}
    for name in free:
        match = AXIS_PATTERN.match(name)
        if match:
            numbered[int(match.group(1))] = name
    axes: dict[str, str] = {}
    missing: list[str] = []
    for number, axis in enumerate(fmt.axes, start=1):
        found = mapped.get(axis) if axis in fmt.column_map else numbered.get(number)
        if found is None:
            missing.append(axis)
        else:
            axes[axis] = found
    if missing:
        raise PipelineError(_missing_axes_message(path, missing, fmt))
    ignored = {n: name for n, name in sorted(numbered.items()) if n > fmt.axis_count}
    return ExportColumns(time, axes, ignored, context)


def _context_columns(path: Path, header: list[str], fmt: ExportFormat) -> dict[str, str]:
    """The file's context columns by canonical name; PipelineError naming a missing one."""
    found = {key: _find_mapped(header, name) for key, name in fmt.contexts.items()}
    missing = [fmt.contexts[key] for key, name in found.items() if name is None]
    if missing:
        raise PipelineError(
            f"{path}: line {HEADER_LINE}: no context column(s) {', '.join(map(repr, missing))} "
            f"(named by the robots file's {CONTEXT_KEY}; found {', '.join(header)}); fix "
            f"{CONTEXT_KEY} or the file."
        )
    return {key: name for key, name in found.items() if name is not None}


def _fold(name: str) -> str:
    return name.strip().casefold()


def _find_mapped(header: list[str], source: str) -> str | None:
    return next((name for name in header if _fold(name) == _fold(source)), None)


def _usual_time(header: list[str]) -> str | None:
    return next((name for name in header if name.strip().lower() in TIME_NAMES), None)


HEADER_NAMES_SHOWN = 20


def _header_names(header: list[str]) -> str:
    """The header's names for a message: each capped, and the first few of a wide header."""
    shown = [name if len(name) <= 60 and name.isprintable() else quoted(name) for name in header]
    more = len(header) - HEADER_NAMES_SHOWN
    return ", ".join(shown[:HEADER_NAMES_SHOWN]) + (f" and {more} more" if more > 0 else "")


def _missing_time_message(path: Path, header: list[str], fmt: ExportFormat) -> str:
    found = _header_names(header)
    if TIME_KEY in fmt.column_map:
        return (
            f"{path}: line {HEADER_LINE}: no time column {fmt.column_map[TIME_KEY]!r} (named by "
            f"{COLUMN_MAP_VARIABLE}; found {found}); fix {COLUMN_MAP_VARIABLE} or the file."
        )
    return (
        f"{path}: line {HEADER_LINE}: no time column (expected one of {', '.join(TIME_NAMES)}; "
        f"found {found}); add or rename it, or name it in {COLUMN_MAP_VARIABLE}."
    )


def _missing_axes_message(path: Path, missing: list[str], fmt: ExportFormat) -> str:
    described = ", ".join(
        f"{axis} (named {fmt.column_map[axis]!r} by {COLUMN_MAP_VARIABLE})"
        if axis in fmt.column_map
        else axis
        for axis in missing
    )
    return (
        f"{path}: line {HEADER_LINE}: missing current column(s) {described} "
        f"(as 'Axis #N' or 'axis_N'); the pipeline expects {fmt.axis_count} axes: set "
        f"{AXIS_COUNT_VARIABLE} for a robot with fewer, or {COLUMN_MAP_VARIABLE} for columns "
        "named otherwise."
    )
