"""The user's own readings tables, read as they are and never written.

Two layouts are read:

* **wide** (the notebook's ``pm_dashboard``): one row per instant, a time column and one
  column per axis; perhaps an ``id``, perhaps a robot column. Without a robot column the
  whole table is one robot.
* **long** (the streaming workshop's): a fact table with one row per reading per axis (time,
  axis id, current; perhaps a robot column) and an axes table whose rows name the axes that
  exist. Only the axes listed there are read ("schema-locked"); the pivot to one row per
  instant happens in SQL.

A time column ``timestamp`` without a zone is read as UTC. A NULL current means "no load".
Table and column names come from configuration, are validated as identifiers, and reach SQL
only through SQLAlchemy's quoting, never by string formatting. Every read is one SELECT; on
Postgres it streams through ``COPY … TO STDOUT`` (:func:`pm_pipeline.db.bulk.bulk_read`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects.postgresql import OID
from sqlalchemy.exc import DBAPIError, NoSuchTableError
from sqlalchemy.sql import ColumnElement, Select

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.db.bulk import bulk_read
from pm_pipeline.db.engine import describe_url
from pm_pipeline.db.schema import validate_identifier
from pm_pipeline.db.timestamps import from_db_times, to_db_time

_AXIS_NUMBER = re.compile(r"(\d+)\s*$")


@dataclass(frozen=True)
class WideSource:
    """A table with one row per instant and one current column per axis."""

    table: str
    time_column: str = "timestamp_recorded"
    axis_columns: Mapping[str, str] = field(default_factory=lambda: {a: a for a in AXES})
    """Canonical axis (``axis_1``…) → the table's column; axes left out are read as blank."""
    robot_column: str | None = None


@dataclass(frozen=True)
class LongSource:
    """A fact table of (time, axis id, current) rows and an axes table naming the axes."""

    table: str
    axes_table: str
    time_column: str = "timestamp_recorded"
    axis_column: str = "axis_id"
    current_column: str = "current"
    axes_id_column: str = "axis_id"
    axes_name_column: str | None = None
    """A column naming each axis (``axis_3``, ``Axis #3``, ``J3``: the trailing number counts);
    without it the ids themselves are the axis numbers."""
    robot_column: str | None = None


Source = WideSource | LongSource


class SourceError(PipelineError):
    """The configured source cannot be read as configured; the message says what to set."""


def read_source(
    engine: Engine,
    source: Source,
    robot_id: str,
    after: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Readings of ``robot_id`` with ``after < time <= until``, as a canonical frame.

    Parameters
    ----------
    engine
        The database holding the source (only SELECT is needed).
    source
        Its layout and names.
    robot_id
        The robot to read; ignored by a source without a robot column (one robot).
    after, until
        Bounds on the time column (UTC); ``after`` is exclusive, so a high-water mark can be
        passed as it is.

    Returns
    -------
    pandas.DataFrame
        ``timestamp_recorded`` (UTC) and ``axis_1 … axis_8`` (float, NaN = no load), oldest
        first, one row per instant.

    Raises
    ------
    SourceError
        When a table or column is missing, a time column is not a time, or the role may not
        read the table; one line naming it and what to set.
    """
    with engine.connect() as connection:
        query = source_query(connection, source, robot_id, after, until)
        try:
            frame = bulk_read(connection, query)
        except DBAPIError as error:
            raise SourceError(_read_failure(engine, source, error)) from None
    frame[TIME_COLUMN] = from_db_times(frame[TIME_COLUMN])
    for axis in AXES:
        frame[axis] = pd.to_numeric(frame[axis], errors="coerce").astype("float64")
    return frame.sort_values(TIME_COLUMN, ignore_index=True)


def newest_source_time(engine: Engine, source: Source, robot_id: str) -> pd.Timestamp | None:
    """The time of the robot's newest reading in ``source`` (UTC), or None when it has none.

    Raises
    ------
    SourceError
        As :func:`read_source` does.
    """
    with engine.connect() as connection:
        fact = reflect_table(connection, source.table, "PM_SOURCE_TABLE")
        time = _time_column(fact, source.time_column)
        # max() of the column as stored, so an index on it answers; naive means UTC below.
        query = sa.select(sa.func.max(time))
        if source.robot_column is not None:
            robot = _column(fact, source.robot_column, "PM_SOURCE_ROBOT_COLUMN")
            query = query.where(robot == robot_id)
        try:
            newest = connection.execute(query).scalar()
        except DBAPIError as error:
            raise SourceError(_read_failure(engine, source, error)) from None
    return None if newest is None else from_db_times(pd.Series([newest])).iloc[0]


def table_identity(engine: Engine, name: str) -> object | None:
    """What identifies the table ``[schema.]name`` as ``engine``'s sessions resolve it: its
    oid on Postgres (the search_path decides an unqualified name), else the name itself;
    None when Postgres has no such table."""
    if engine.dialect.name != "postgresql":
        return name
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.cast(sa.func.to_regclass(name), OID))).scalar()


def source_query(
    connection: Connection,
    source: Source,
    robot_id: str,
    after: pd.Timestamp | None,
    until: pd.Timestamp | None,
) -> Select:
    """The one SELECT that reads ``source``, checked against the table as it is."""
    fact = reflect_table(connection, source.table, "PM_SOURCE_TABLE")
    time = _time_column(fact, source.time_column)
    shown = _as_utc(connection, time)
    if isinstance(source, WideSource):
        axes = [
            _column(fact, source.axis_columns[axis], f"PM_SOURCE_AXIS_COLUMNS ({axis})")
            if axis in source.axis_columns
            else sa.null()
            for axis in AXES
        ]
        query = sa.select(shown.label(TIME_COLUMN), *_labelled_axes(axes)).select_from(fact)
    else:
        query = _pivot(connection, fact, source, time, shown)
    if source.robot_column is not None:
        robot = _column(fact, source.robot_column, "PM_SOURCE_ROBOT_COLUMN")
        query = query.where(robot == robot_id)
    # Bounds compare the column as stored, so an index on it serves the nightly read.
    if after is not None:
        query = query.where(time > _bound(connection, time, after))
    if until is not None:
        query = query.where(time <= _bound(connection, time, until))
    return query.order_by(time)


def reflect_table(connection: Connection, name: str, setting: str) -> Table:
    """The table ``[schema.]name`` as the database describes it."""
    schema, _, table = name.rpartition(".")
    validate_identifier(table, f"{setting} table")
    if schema:
        validate_identifier(schema, f"{setting} schema")
    try:
        return Table(table, sa.MetaData(), schema=schema or None, autoload_with=connection)
    except NoSuchTableError:
        where = f"schema {schema!r}" if schema else "the connection's search_path"
        raise SourceError(
            f"source table {name!r} does not exist in {where} of "
            f"{describe_url(str(connection.engine.url))}; set {setting} to an existing table, "
            "schema-qualified if needed (e.g. public.pm_dashboard)."
        ) from None


def _column(table: Table, name: str, setting: str) -> sa.Column:
    validate_identifier(name, setting)
    if name not in table.c:
        raise SourceError(
            f"table {table.fullname!r} has no column {name!r}; set {setting} to one of: "
            f"{', '.join(table.c.keys())}."
        )
    return table.c[name]


def _time_column(table: Table, name: str) -> sa.Column:
    column = _column(table, name, "PM_SOURCE_TIME_COLUMN")
    if not isinstance(column.type, sa.DateTime):
        raise SourceError(
            f"column {name!r} of table {table.fullname!r} is {column.type}, not a time; set "
            "PM_SOURCE_TIME_COLUMN to a timestamp or timestamptz column."
        )
    return column


def _has_zone(column: sa.Column) -> bool:
    return bool(getattr(column.type, "timezone", False))


def _as_utc(connection: Connection, time: sa.Column) -> ColumnElement:
    """The time column as UTC instants: a ``timestamp`` without a zone is read as UTC,
    whatever the session's time zone."""
    if _has_zone(time) or connection.dialect.name != "postgresql":
        return time
    return sa.func.timezone("UTC", time)


def _bound(connection: Connection, time: sa.Column, value: pd.Timestamp) -> object:
    bound = to_db_time(connection, value)
    # A naive UTC value for a column without a zone: an aware one would be converted with the
    # session's time zone.
    return bound if _has_zone(time) else bound.replace(tzinfo=None)


def _labelled_axes(values: Sequence[ColumnElement]) -> list[ColumnElement]:
    return [sa.cast(value, sa.Float).label(axis) for axis, value in zip(AXES, values, strict=True)]


def _pivot(
    connection: Connection,
    fact: Table,
    source: LongSource,
    time: sa.Column,
    shown: ColumnElement,
) -> Select:
    """One row per instant from one row per reading per axis, for the listed axes only."""
    axis_id = _column(fact, source.axis_column, "PM_SOURCE_AXIS_COLUMN")
    current = _column(fact, source.current_column, "PM_SOURCE_CURRENT_COLUMN")
    listed = listed_axes(connection, source)
    values = [
        sa.func.max(sa.case((axis_id == listed[axis], current))) if axis in listed else sa.null()
        for axis in AXES
    ]
    return (
        sa.select(shown.label(TIME_COLUMN), *_labelled_axes(values))
        .select_from(fact)
        .where(axis_id.in_(list(listed.values())))
        .group_by(time)
    )


def listed_axes(connection: Connection, source: LongSource) -> dict[str, object]:
    """Canonical axis → its id in the fact table, for every axis the axes table lists."""
    axes = reflect_table(connection, source.axes_table, "PM_SOURCE_AXES_TABLE")
    ids = _column(axes, source.axes_id_column, "PM_SOURCE_AXES_ID_COLUMN")
    names = (
        _column(axes, source.axes_name_column, "PM_SOURCE_AXES_NAME_COLUMN")
        if source.axes_name_column
        else ids
    )
    try:
        rows = connection.execute(sa.select(ids, names)).all()
    except DBAPIError as error:
        raise SourceError(_read_failure(connection.engine, source, error, axes.fullname)) from None
    listed: dict[str, object] = {}
    for identifier, name in rows:
        number = _AXIS_NUMBER.search(str(name))
        axis = f"axis_{int(number.group(1))}" if number else None
        if axis not in AXES:
            raise SourceError(
                f"axes table {axes.fullname!r} lists {name!r}, which names none of axis_1 … "
                f"axis_{len(AXES)}; name axes by number (3, axis_3, Axis #3) or set "
                "PM_SOURCE_AXES_NAME_COLUMN to the column that does."
            )
        listed[axis] = identifier
    return listed


def _read_failure(
    engine: Engine, source: Source, error: DBAPIError, table: str | None = None
) -> str:
    name = table or source.table
    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    if "permission denied" in reason:
        user = engine.url.username or "the connecting role"
        return (
            f"role {user!r} may not read {name!r} in {describe_url(str(engine.url))}; grant it "
            f"with GRANT SELECT ON {name} TO {user} (and USAGE on its schema)."
        )
    return f"reading source table {name!r} failed: {reason}"
