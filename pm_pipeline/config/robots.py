"""The robots file: which robots a deployment serves, and how each one's exports read.

```yaml
robots:
  kawasaki-1: {}                 # 8 axes, dialect sniffed
  ur3-1:
    axis_count: 7
    column_map: {time: Timestamp, axis_1: Current_J0, ...}
    context_columns: [Temperature_J0, Speed_J0, ...]
  kuka-de:
    encoding: cp1252             # exports saved by a German Windows PC (Windows-1252)
```

``axis_count`` and ``column_map`` mean what ``PM_AXIS_COUNT`` and ``PM_COLUMN_MAP`` mean; a key
left out takes that setting. ``encoding`` names the exports' text encoding when it is not
UTF-8, such as ``cp1252`` (any ASCII-compatible encoding Python knows). ``context_columns``
(optional, at most 16) lists the export's columns that models take as inputs and never alarm
on: joint temperatures, speeds, a program number. They are stored as ``context_1 …`` in the
listed order (add new ones at the end: a column's place is its slot), and each model version
records which column each one was. Separator, quoting and decimal mark (``;`` with ``0,5``)
are sniffed from each file. With no robots file, the deployment serves one robot,
:data:`DEFAULT_ROBOT_ID`, with the settings as they are.

The whole file is validated when it is read, before any work: a bad entry is one line naming
the file, the robot and the key, so a sensor tick fails before it moves a single file.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pm_pipeline.config.settings import Settings
from pm_pipeline.core.errors import SettingsError
from pm_pipeline.core.landing.plan import ARCHIVE_FOLDER, QUARANTINE_FOLDER
from pm_pipeline.core.parsing.encoding import ENCODING_KEY, UTF8
from pm_pipeline.core.parsing.format import (
    AXIS_COUNT_VARIABLE,
    COLUMN_MAP_VARIABLE,
    CONTEXT_KEY,
    ExportFormat,
    ExportSettingError,
)
from pm_pipeline.core.schema import DEFAULT_ROBOT_ID

ROBOT_KEYS = ("axis_count", "column_map", ENCODING_KEY, CONTEXT_KEY)
# Dagster partition keys and folder names both take these.
_ROBOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""The key an :class:`ExportSettingError` is about, from how its message starts."""
RESERVED_FOLDERS = (ARCHIVE_FOLDER, QUARANTINE_FOLDER)
"""Folders of the drop folder that hold finished files, so no robot may be named after them."""


class RobotsFileError(SettingsError):
    """The robots file cannot be used as written; the message names the robot and the key."""


@dataclass(frozen=True)
class Robot:
    """One robot of the fleet and its controller's dialect."""

    robot_id: str
    export_format: ExportFormat


@dataclass(frozen=True)
class Fleet:
    """The robots a deployment serves, in the robots file's order."""

    robots: Mapping[str, Robot]
    source: Path | None
    """The robots file read, or None when the deployment serves the default robot."""

    @property
    def robot_ids(self) -> list[str]:
        return list(self.robots)

    @property
    def is_closed(self) -> bool:
        """With a robots file, the fleet is what it lists; without one, any robot whose files
        land in its own folder of the drop folder joins with the settings' dialect."""
        return self.source is not None

    def default_robot_id(self) -> str:
        """The robot a command means when it names none: the default robot, or the robots
        file's only robot.

        Raises
        ------
        RobotsFileError
            When the robots file lists several robots and not the default one.
        """
        if DEFAULT_ROBOT_ID in self.robots or not self.is_closed:
            return DEFAULT_ROBOT_ID
        if len(self.robots) == 1:
            return self.robot_ids[0]
        raise RobotsFileError(
            f"{self.source} lists several robots ({', '.join(self.robots)}); name one with --robot."
        )

    def export_format_for(self, robot_id: str, default: ExportFormat) -> ExportFormat:
        """How ``robot_id``'s exports read: its entry, or ``default`` (the settings') for a
        robot of an open fleet.

        Raises
        ------
        RobotsFileError
            When the id is not usable, or the fleet is closed and does not list it.
        """
        check_robot_id(robot_id)
        if robot_id in self.robots:
            return self.robots[robot_id].export_format
        if self.is_closed:
            self.robot(robot_id)  # raises, listing the robots there are
        return default

    def robot(self, robot_id: str) -> Robot:
        """The robot with this id.

        Raises
        ------
        RobotsFileError
            When the fleet has no such robot; the message lists the ones it has.
        """
        if robot_id not in self.robots:
            where = f"in {self.source}" if self.source else "(no robots file: only the default)"
            raise RobotsFileError(
                f"robot {robot_id!r} is not one of the deployment's robots {where}: "
                f"{', '.join(self.robots)}; add it to the robots file or use one of these."
            )
        return self.robots[robot_id]


def check_robot_id(robot_id: str) -> str:
    """``robot_id`` when it can name a partition and a folder.

    Raises
    ------
    RobotsFileError
        When it cannot; the message says what a robot id may hold.
    """
    if not _ROBOT_ID.match(robot_id) or robot_id in RESERVED_FOLDERS:
        raise RobotsFileError(
            f"robot {robot_id!r}: not a usable robot id; use up to 64 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit, and not "
            f"{' or '.join(RESERVED_FOLDERS)}."
        )
    return robot_id


def load_fleet(settings: Settings) -> Fleet:
    """The robots of ``settings.robots_file``, or the default robot when that file is absent.

    Raises
    ------
    RobotsFileError
        When the file is named by ``PM_ROBOTS_FILE`` but missing, is not YAML of the documented
        shape, or an entry is invalid; one line naming the file, the robot and the key.
    """
    path = settings.robots_file
    if not path.is_file():
        if settings.robots_file_set:
            raise RobotsFileError(
                f"PM_ROBOTS_FILE={str(path)!r}: no such file; create it or unset the variable."
            )
        default = Robot(DEFAULT_ROBOT_ID, settings.export_format)
        return Fleet({DEFAULT_ROBOT_ID: default}, None)
    entries = _robot_entries(path)
    robots = {
        robot_id: _robot(path, robot_id, entry, settings) for robot_id, entry in entries.items()
    }
    return Fleet(robots, path)


def _robot_entries(path: Path) -> dict[str, Any]:
    """The file's entries by robot id: a copy of the parse of its current content, which is
    kept (the sensor reads the file at every tick; 2,000 robots take 0.5 s to parse)."""
    return copy.deepcopy(_parsed_entries(path, path.read_bytes()))


@functools.lru_cache(maxsize=8)
def _parsed_entries(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise RobotsFileError(
            f"{path} line {line}: not UTF-8 (byte 0x{raw[error.start]:02x}); save the robots "
            "file as UTF-8."
        ) from None
    # Parsed once into nodes, which keep each word as written, then built from them.
    loader = SAFE_LOADER(text)
    try:
        document = loader.get_single_node()
        _check_text_as_written(path, document)
        content = None if document is None else loader.construct_document(document)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise RobotsFileError(
            f"{path}{line}: not valid YAML ({getattr(error, 'problem', None) or error}); "
            "write `robots:` followed by one entry per robot."
        ) from None
    finally:
        loader.dispose()
    robots = content.get("robots") if isinstance(content, dict) else None
    if not isinstance(robots, dict) or not robots:
        raise RobotsFileError(
            f"{path}: expected a mapping `robots:` with one entry per robot id, such as "
            "`robots: {kawasaki-1: {}}`."
        )
    return {str(robot_id): entry for robot_id, entry in robots.items()}


SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""LibYAML's parser where PyYAML was built with it, for a file every sensor tick reads: a
read of 100–500 robots takes a fifth to a seventh of the pure-Python parser's time
(``benchmarks/bench_robots_file.py``)."""
YAML_TEXT = "tag:yaml.org,2002:str"
"""The tag YAML gives a word it reads as text."""


def _check_text_as_written(path: Path, document: yaml.Node | None) -> None:
    """Refuse a robot id or column name that YAML reads as other than what is written.

    YAML reads some unquoted words as numbers or booleans: ``0042`` is the octal number 34,
    ``12:30`` is 750 and ``yes`` is true. A robot's folder, partitions and stored readings
    would then go by another id than the one in the file, with nothing said, and a column
    would be looked for under another name.
    """
    if not isinstance(document, yaml.MappingNode):
        return
    robots = next((value for key, value in document.value if key.value == "robots"), None)
    if not isinstance(robots, yaml.MappingNode):
        return
    for robot, entry in robots.value:
        _refuse_if_read_otherwise(path, robot, "robot id")
        if not isinstance(entry, yaml.MappingNode):
            continue  # refused later: an entry is a mapping of keys
        for key, value in entry.value:
            if key.value == "axis_count":
                continue  # a number, checked as one
            for node in _scalars(value):
                _refuse_if_read_otherwise(path, node, f"{key.value} entry")


def _scalars(node: yaml.Node) -> list[yaml.ScalarNode]:
    """The scalar values under ``node`` (a mapping's values, a sequence's items), each node
    visited once: a YAML alias may point back into its own anchor (``&a [T0, *a]``)."""
    found: list[yaml.ScalarNode] = []
    seen: set[int] = set()
    pending = [node]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            found.append(current)
        elif isinstance(current, yaml.MappingNode):
            pending.extend(value for _, value in reversed(current.value))
        elif isinstance(current, yaml.SequenceNode):
            pending.extend(reversed(current.value))
    return found


def _refuse_if_read_otherwise(path: Path, node: yaml.Node, what: str) -> None:
    if not isinstance(node, yaml.ScalarNode) or node.style or node.tag == YAML_TEXT:
        return  # text as written; a mapping or list is refused later
    read = yaml.safe_load(node.value)
    if node.value and str(read) != node.value:
        raise RobotsFileError(
            f"{path} line {node.start_mark.line + 1}: {what} {node.value} is read by YAML as "
            f'{read!r}, not as written; put it in quotes: "{node.value}"'
        )


def _robot(path: Path, robot_id: str, entry: Any, settings: Settings) -> Robot:
    where = f"{path}: robot {robot_id!r}"
    try:
        check_robot_id(robot_id)
    except RobotsFileError as error:
        raise RobotsFileError(f"{path}: {error}") from None
    entry = {} if entry is None else entry
    if not isinstance(entry, dict):
        raise RobotsFileError(f"{where}: expected a mapping of keys ({', '.join(ROBOT_KEYS)}).")
    unknown = sorted(set(entry) - set(ROBOT_KEYS))
    if unknown:
        raise RobotsFileError(
            f"{where}: key {unknown[0]!r} is not known; the keys are {', '.join(ROBOT_KEYS)}."
        )
    axis_count = entry.get("axis_count", settings.axis_count)
    column_map = entry.get("column_map", settings.column_map)
    encoding = entry.get(ENCODING_KEY, UTF8)
    context = entry.get(CONTEXT_KEY) or []
    try:
        export_format = ExportFormat(
            axis_count,
            column_map if column_map is not None else {},
            encoding=str(encoding),
            context_columns=tuple(context) if isinstance(context, list) else context,
        )
    except ExportSettingError as error:
        key = _key_of(str(error))
        message = str(error)
        for prefix in (AXIS_COUNT_VARIABLE, COLUMN_MAP_VARIABLE, ENCODING_KEY, CONTEXT_KEY):
            message = message.replace(f"{prefix}: ", "")
        message = message.replace(AXIS_COUNT_VARIABLE, "axis_count")
        raise RobotsFileError(f"{where}, key {key!r}: {message}") from None
    return Robot(robot_id, export_format)


def _key_of(message: str) -> str:
    """The robots-file key an export-setting message is about."""
    if message.startswith(COLUMN_MAP_VARIABLE):
        return "column_map"
    if message.startswith(CONTEXT_KEY):
        return CONTEXT_KEY
    if message.startswith(ENCODING_KEY):
        return ENCODING_KEY
    return "axis_count"


def robot_export_format(settings: Settings, robot_id: str) -> ExportFormat:
    """How ``robot_id``'s exports read: its robots-file entry, else the settings' format
    (a robot of an open fleet, or one no longer listed: its stored readings still train)."""
    fleet = load_fleet(settings)
    robot = fleet.robots.get(robot_id)
    return robot.export_format if robot is not None else settings.export_format
