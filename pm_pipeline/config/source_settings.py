"""The ``PM_SOURCE_*`` settings: the user's own readings table, its layout and its names.

A part of :class:`pm_pipeline.config.settings.Settings`, the one settings object: this module only
declares and checks the fields (it reads no environment). Table and column names are
checked as identifiers when the settings load, one line per bad variable; whether they
exist is checked when the table is first read.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ValidationInfo, field_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import NoDecode

from pm_pipeline.config.setting_field import setting as _source
from pm_pipeline.core.schema import AXES, AXIS_COUNT

SourceLayout = Literal["none", "wide", "long"]
AXIS_COLUMNS_EXAMPLE = '{"axis_1": "motor_1", "axis_2": "motor_2"}'
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_NOT_IDENTIFIER = (
    "not a plain identifier; use letters, digits and underscores, starting with a letter "
    "or underscore"
)


class SourceSettings(BaseModel):
    """Where the user's readings table is and how it is laid out; see docs/sources.md."""

    source_layout: SourceLayout = _source(
        "none",
        "PM_SOURCE_LAYOUT",
        "Your own readings table, read-only: none (readings come only from landed files), "
        "wide (one row per instant, a column per axis) or long (one row per reading per axis, "
        "plus an axes table). New rows are copied into the readings table before training.",
        "not a layout; write none, wide or long",
    )
    source_url: str | None = _source(
        None,
        "PM_SOURCE_URL",
        "Database holding your table (SQLAlchemy URL); a role with SELECT on the table is "
        "enough. Unset: the readings database (PM_DATABASE_URL).",
        repr=False,  # it may carry a password
    )
    source_table: str | None = _source(
        None,
        "PM_SOURCE_TABLE",
        "Your readings table (the long layout's fact table), schema-qualified if needed, e.g. "
        "public.pm_dashboard. Required unless PM_SOURCE_LAYOUT is none; never written.",
        validate_default=True,
    )
    source_time_column: str = _source(
        "timestamp_recorded",
        "PM_SOURCE_TIME_COLUMN",
        "Its time column: timestamptz, or timestamp without a zone (read as UTC).",
    )
    source_robot_column: str | None = _source(
        None,
        "PM_SOURCE_ROBOT_COLUMN",
        "Its column holding the robot's id (robot-1). Unset: the whole table is one robot.",
    )
    source_axis_columns: Annotated[dict[str, str], NoDecode] = _source(
        {},
        "PM_SOURCE_AXIS_COLUMNS",
        "Wide layout: your columns, as JSON from axis_1 .. axis_8 to column names, e.g. "
        f"{AXIS_COLUMNS_EXAMPLE}; axes left out are read as blank. Unset: axis_1 .. axis_N "
        "(PM_AXIS_COUNT).",
    )
    source_axes_table: str | None = _source(
        None,
        "PM_SOURCE_AXES_TABLE",
        "Long layout: the axes table, schema-qualified if needed; only the axes it lists are read.",
        validate_default=True,
    )
    source_axis_column: str = _source(
        "axis_id", "PM_SOURCE_AXIS_COLUMN", "Long layout: the fact table's axis id column."
    )
    source_current_column: str = _source(
        "current",
        "PM_SOURCE_CURRENT_COLUMN",
        "Long layout: the fact table's current column, in amperes (NULL = no load).",
    )
    source_axes_id_column: str = _source(
        "axis_id", "PM_SOURCE_AXES_ID_COLUMN", "Long layout: the axes table's id column."
    )
    source_axes_name_column: str | None = _source(
        None,
        "PM_SOURCE_AXES_NAME_COLUMN",
        "Long layout: the axes table's column naming each axis (3, axis_3, Axis #3 and J3 all "
        "name axis 3). Unset: the ids are the axis numbers.",
    )

    @field_validator(
        "source_time_column",
        "source_robot_column",
        "source_axis_column",
        "source_current_column",
        "source_axes_id_column",
        "source_axes_name_column",
    )
    @classmethod
    def _plain_identifier(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTIFIER.match(value):
            raise ValueError(f"{_NOT_IDENTIFIER}.")
        return value

    @field_validator("source_table", "source_axes_table")
    @classmethod
    def _table_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        layout = info.data.get("source_layout")
        variable = (
            "PM_SOURCE_TABLE" if info.field_name == "source_table" else "PM_SOURCE_AXES_TABLE"
        )
        example = "public.axes" if "AXES" in variable else "public.pm_dashboard"
        if value is None:
            if layout == "long" or (layout == "wide" and variable == "PM_SOURCE_TABLE"):
                raise ValueError(
                    f"{variable} is unset, but PM_SOURCE_LAYOUT={layout} reads it; set it to "
                    f"the table's name, schema-qualified if needed (e.g. {example})."
                )
            return None
        if not all(_IDENTIFIER.match(part) for part in value.split(".", 1)):
            raise ValueError(f"{_NOT_IDENTIFIER} (a schema may lead, as in public.pm_dashboard).")
        return value

    @field_validator("source_axis_columns", mode="before")
    @classmethod
    def _axis_columns(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and not value.strip():
            raise PydanticUseDefault()  # this runs before Settings' own blank check
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"PM_SOURCE_AXIS_COLUMNS: not valid JSON ({error.msg} at character "
                    f"{error.pos}); write a JSON object such as {AXIS_COLUMNS_EXAMPLE}."
                ) from None
        if not isinstance(value, dict):
            raise ValueError(f"not a JSON object; write one such as {AXIS_COLUMNS_EXAMPLE}.")
        axes = AXES[: info.data.get("axis_count", AXIS_COUNT)]
        for axis, column in value.items():
            if axis not in axes:
                raise ValueError(
                    f"PM_SOURCE_AXIS_COLUMNS: {axis!r} is not one of axis_1 .. {axes[-1]} "
                    "(PM_AXIS_COUNT); name the axes as keys and your columns as values."
                )
            if not isinstance(column, str) or not _IDENTIFIER.match(column):
                raise ValueError(
                    f"PM_SOURCE_AXIS_COLUMNS: {column!r} for {axis} is {_NOT_IDENTIFIER}."
                )
        return value
