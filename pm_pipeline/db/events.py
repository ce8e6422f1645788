"""The events table: writes replace a source's events atomically; reads return a frame."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Connection, Engine, delete, func, select

from pm_pipeline.core.detection.lifecycle import OPEN, STATUSES
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.notifications.routing import OPENED, AlertRouting
from pm_pipeline.core.schema import SYNTHETIC_SOURCE
from pm_pipeline.db.outbox import enqueue_notifications
from pm_pipeline.db.schema import events
from pm_pipeline.db.timestamps import from_db_times, to_db_time, to_db_times


@dataclass(frozen=True)
class StoredEvents:
    """What :func:`store_events` wrote."""

    events: int
    notifications: int
    """Outbox rows queued: none for changes already queued by an earlier store."""


def replace_events(
    engine: Engine,
    source: str,
    detected: pd.DataFrame,
    model_version: str,
    run_id: str | None,
    robot_id: str,
    statuses: Sequence[str] | None = None,
) -> int:
    """Replace every stored event of ``source`` with ``detected``; the number written.

    See :func:`store_events`, which also queues notifications.
    """
    stored = store_events(engine, source, detected, model_version, run_id, robot_id, None, statuses)
    return stored.events


def store_events(
    engine: Engine,
    source: str,
    detected: pd.DataFrame,
    model_version: str,
    run_id: str | None,
    robot_id: str,
    routing: AlertRouting | None = None,
    statuses: Sequence[str] | None = None,
) -> StoredEvents:
    """Replace every stored event of ``source`` with ``detected``, and queue their
    notifications, in one transaction.

    Two runs may score the same file at once (a re-execution while the sensor's run is going).
    Their transactions are serialised per robot and source, so the later one deletes what the
    earlier one wrote and exactly one set of events is left.

    Parameters
    ----------
    engine
        Database holding the events table.
    source
        ``synthetic:<model version>`` or a landed file's partition key.
    detected
        Output of :func:`pm_pipeline.core.detection.detect_events`.
    model_version, run_id, robot_id
        Provenance stored on every row.
    routing
        Where notifications go; None queues none (no channel is configured).
    statuses
        ``open`` or ``resolved`` per row of ``detected``, stored with it; all ``open`` when
        not given. Each stored event queues one ``opened`` notification.

    Returns
    -------
    StoredEvents
        Events written and notifications queued.
    """
    now = pd.Timestamp(datetime.now(UTC))
    created = to_db_time(engine, now)
    rows = [
        {**row, **lifecycle_columns(status, created)}
        for row, status in zip(
            event_rows(engine, source, detected, model_version, run_id, robot_id, created),
            statuses or [OPEN] * len(detected),
            strict=True,
        )
    ]
    with engine.begin() as connection:
        _lock_source(connection, robot_id, source)
        connection.execute(
            delete(events).where((events.c.source == source) & (events.c.robot_id == robot_id))
        )
        if not rows:
            return StoredEvents(0, 0)
        ids = connection.execute(
            events.insert().returning(events.c.event_id, sort_by_parameter_order=True), rows
        ).scalars()
        stored = [{**row, "event_id": event_id} for row, event_id in zip(rows, ids, strict=True)]
        queued = (
            0
            if routing is None
            else enqueue_notifications(connection, routing, stored, [OPENED] * len(stored), now)
        )
    return StoredEvents(len(rows), queued)


def event_rows(
    engine: Engine | Connection,
    source: str,
    detected: pd.DataFrame,
    model_version: str,
    run_id: str | None,
    robot_id: str,
    created: datetime,
) -> list[dict[str, Any]]:
    """The rows of ``pm_events`` for ``detected``, times ready to bind (without status)."""
    return [
        {
            "robot_id": robot_id,
            "axis": row["axis"],
            "severity": row["severity"],
            "start_ts": start,
            "end_ts": end,
            "duration_s": float(row["duration_s"]),
            "z_mean": float(row["z_mean"]),
            "z_peak": float(row["z_peak"]),
            "p_value": float(row["p_value"]),
            "n_samples": int(row["n_samples"]),
            "contributions": _contributions(row),
            "model_version": model_version,
            "source": source,
            "run_id": run_id,
            "created_at": created,
        }
        for row, start, end in zip(
            detected.to_dict("records"),
            to_db_times(engine, detected["start"]),
            to_db_times(engine, detected["end"]),
            strict=True,
        )
    ]


def _contributions(row: Mapping[Hashable, Any]) -> str | None:
    """The event's ``contributions`` JSON as stored; None from a frame without it."""
    value = row.get("contributions")
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


def lifecycle_columns(
    status: str, now: datetime, resolved_before: datetime | None = None
) -> dict[str, Any]:
    """``status`` and ``resolved_at`` of an event row: resolved as of ``resolved_before``
    when it already was, else as of ``now``; no time while it is open."""
    if status not in STATUSES:
        raise PipelineError(f"event status {status!r} is unknown; use one of {STATUSES}.")
    resolved_at = None if status == OPEN else (resolved_before or now)
    return {"status": status, "resolved_at": resolved_at}


def source_lock_key(robot_id: str, source: str) -> int:
    """The signed 64-bit advisory-lock key of one robot's events of one source."""
    digest = hashlib.sha256(f"pm_events\x00{robot_id}\x00{source}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_source(connection: Connection, robot_id: str, source: str) -> None:
    """Hold the source's lock until the transaction ends (commit, rollback or a dead client).

    On Postgres (READ COMMITTED) two transactions that each delete and then insert would both
    delete nothing the other has not committed yet, and both inserts would stay: a
    transaction-scoped advisory lock makes the second wait, and its DELETE, which takes a fresh
    snapshot, then sees and removes the first one's rows. SQLite needs nothing: the DELETE
    takes the database's single write lock, and a second writer waits for the first to commit.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(source_lock_key(robot_id, source))))


def read_events(
    engine: Engine,
    source: str | None = None,
    robot_id: str | None = None,
    landed_only: bool = False,
) -> pd.DataFrame:
    """Stored events, ordered by start time.

    Parameters
    ----------
    source, robot_id
        Only events of this source and robot (None: any).
    landed_only
        Leave out the synthetic verification sets' events.
    """
    query = select(events).order_by(events.c.start_ts, events.c.event_id)
    if source is not None:
        query = query.where(events.c.source == source)
    if robot_id is not None:
        query = query.where(events.c.robot_id == robot_id)
    if landed_only:
        query = query.where(from_landed_files())
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    return typed_events(frame)


def read_event(engine: Engine, event_id: int) -> pd.Series:
    """One stored event by id; PipelineError when there is no such event."""
    with engine.connect() as connection:
        frame = pd.read_sql(select(events).where(events.c.event_id == event_id), connection)
    if frame.empty:
        raise PipelineError(f"no event with id {event_id}; list the ids with `pm-pipeline events`.")
    return typed_events(frame).iloc[0]


EVENT_TIME_COLUMNS = ("start_ts", "end_ts", "created_at", "resolved_at")
NUMBER_COLUMNS = {
    "duration_s": np.dtype("float64"),
    "z_mean": np.dtype("float64"),
    "z_peak": np.dtype("float64"),
    "p_value": np.dtype("float64"),
    "n_samples": np.dtype("int64"),
    "event_id": np.dtype("int64"),
}


def typed_events(frame: pd.DataFrame) -> pd.DataFrame:
    """UTC times, and numbers as numbers even when no row came back (pandas then guesses
    ``object``, and sorting by peak z would fail)."""
    # One new frame from its columns, each converted only when it needs it: astype over
    # the frame, or an assignment per column, costs milliseconds even for no rows.
    columns = {}
    for name in frame.columns:
        if name in EVENT_TIME_COLUMNS:
            columns[name] = from_db_times(frame[name])
        elif name in NUMBER_COLUMNS and frame[name].dtype != NUMBER_COLUMNS[name]:
            columns[name] = frame[name].astype(NUMBER_COLUMNS[name])
        else:
            columns[name] = frame[name]
    return pd.DataFrame(columns, index=frame.index)


def from_landed_files() -> ColumnElement[bool]:
    """Events of landed files: not of a synthetic set (see
    :func:`pm_pipeline.core.schema.is_synthetic_source`; ``substr`` is exact on both
    databases, where SQLite's LIKE ignores case)."""
    prefix = f"{SYNTHETIC_SOURCE}:"
    return (events.c.source != SYNTHETIC_SOURCE) & (
        func.substr(events.c.source, 1, len(prefix)) != prefix
    )


def robot_events(
    engine: Engine,
    robot_id: str,
    since: pd.Timestamp | None = None,
    severity: str | None = None,
    status: str | None = None,
) -> pd.DataFrame:
    """A robot's events found in landed files (not the synthetic set), newest first.

    Parameters
    ----------
    since
        Keep events still going at or after this time (their end is not before it).
    severity
        ``ALERT`` or ``ERROR``, or None for both.
    status
        ``open`` or ``resolved``, or None for both.
    """
    query = (
        select(events)
        .where((events.c.robot_id == robot_id) & from_landed_files())
        .order_by(events.c.start_ts.desc(), events.c.event_id.desc())
    )
    if since is not None:
        query = query.where(events.c.end_ts >= to_db_time(engine, since))
    if severity is not None:
        query = query.where(events.c.severity == severity)
    if status is not None:
        query = query.where(events.c.status == status)
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    return typed_events(frame)


def has_landed_events(engine: Engine, robot_id: str) -> bool:
    """True when the store holds at least one event of the robot found in a landed file
    (one probe of the robot's event index, not its history)."""
    query = (
        select(events.c.event_id)
        .where((events.c.robot_id == robot_id) & from_landed_files())
        .limit(1)
    )
    with engine.connect() as connection:
        return connection.execute(query).first() is not None


def robot_open_events(engine: Engine, robot_id: str) -> pd.DataFrame:
    """The robot's events still open (:func:`open_events` of :func:`robot_events`), newest
    first, read alone: a robot's status needs its few open events, not a year of history."""
    return robot_events(engine, robot_id, status=OPEN)


def file_and_open_events(
    engine: Engine, robot_id: str, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The events of ``robot_id``'s file ``source``, oldest first (as :func:`read_events`
    gives them), and the robot's events still open, newest first (as :func:`open_events` of
    :func:`robot_events`), in one query: a scored file reports both, and the robot's whole
    history of events need not be read for its few open ones."""
    query = select(events).where(
        (events.c.robot_id == robot_id)
        & from_landed_files()
        & ((events.c.source == source) | (events.c.status == OPEN))
    )
    with engine.connect() as connection:
        found = typed_events(pd.read_sql(query, connection))
    order = ["start_ts", "event_id"]
    return (
        found[found["source"] == source].sort_values(order, ignore_index=True),
        open_events(found).sort_values(order, ascending=False, ignore_index=True),
    )


def landed_event_spans(
    engine: Engine,
    robot_id: str,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Start and end of the robot's events found in landed files (not the synthetic sets)
    that overlap ``[start, end]`` (None: unbounded), oldest first.

    Returns
    -------
    pandas.DataFrame
        ``start_ts`` and ``end_ts`` (UTC).
    """
    query = (
        select(events.c.start_ts, events.c.end_ts)
        .where((events.c.robot_id == robot_id) & from_landed_files())
        .order_by(events.c.start_ts)
    )
    if start is not None:
        query = query.where(events.c.end_ts >= to_db_time(engine, start))
    if end is not None:
        query = query.where(events.c.start_ts <= to_db_time(engine, end))
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    for column in ("start_ts", "end_ts"):
        frame[column] = from_db_times(frame[column])
    return frame


def newest_landed_source(engine: Engine, robot_id: str) -> str | None:
    """The landed file (events source) holding the robot's latest-ending event, or None
    when no landed file of the robot has events."""
    query = (
        select(events.c.source)
        .where((events.c.robot_id == robot_id) & from_landed_files())
        .order_by(events.c.end_ts.desc(), events.c.event_id.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def open_events(found: pd.DataFrame) -> pd.DataFrame:
    """The events of ``found`` that are still open: the readings so far may continue them.

    The status is stored with each event when its file is scored (see
    :mod:`pm_pipeline.core.detection.lifecycle`): an event that reaches the end of the
    robot's readings, or a data gap, stays open until later readings show it ended.
    """
    return found[found["status"] == OPEN]
