"""A robot's landed events kept as one long pass would find them, one scored file at a time.

Scoring a file yields the events of a pass over its readings and the stored readings around
it (:class:`pm_pipeline.services.continuation.ScoredSpan`). Here they replace the robot's
stored events over that stretch, in one transaction: an event found again (same robot and
axis, overlapping in time) keeps its id and is extended, escalated or resolved in place; a
new one is inserted; a stored one the pass no longer finds is removed. Each change queues
its notification in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, select, update

from pm_pipeline.core.detection.lifecycle import OPEN, RESOLVED
from pm_pipeline.core.notifications.routing import ESCALATED, OPENED, AlertRouting
from pm_pipeline.core.notifications.routing import RESOLVED as RESOLVED_CHANGE
from pm_pipeline.db.engine import in_transaction
from pm_pipeline.db.events import (
    event_rows,
    from_landed_files,
    lifecycle_columns,
    source_lock_key,
    typed_events,
)
from pm_pipeline.db.outbox import enqueue_notifications
from pm_pipeline.db.schema import events
from pm_pipeline.db.timestamps import to_db_time

Record = Mapping[Any, Any]
"""One event as a row of a frame (``DataFrame.to_dict("records")``) or of the table."""
ROBOT_EVENTS = "\x00landed events"
"""The lock name of all of one robot's landed events: a pass may touch several files'."""


@dataclass(frozen=True)
class ReconciledEvents:
    """What storing one pass's events did."""

    events: int
    """Events now stored under the scored file (new or updated): those that start in it,
    and new ones that started just before it."""
    notifications: int
    continued: tuple[int, ...] = ()
    """Ids of stored events that started before the file and were carried into it."""
    removed: tuple[int, ...] = ()
    """Ids of stored events the pass no longer finds (merged into another, or gone)."""
    changes: dict[str, int] = field(default_factory=dict)
    """Notifying changes by kind."""
    report: tuple[EventChange, ...] = ()
    """Every event the pass created or changed, with how: what a file's output lists."""


NEW, EXTENDED, ESCALATED_CHANGE, RESOLVED_REPORT, START_REVISED = (
    "new",
    "extended",
    "escalated",
    "resolved",
    "start revised",
)
REPORTED_CHANGES = (NEW, EXTENDED, ESCALATED_CHANGE, RESOLVED_REPORT, START_REVISED)
"""How a scored file changed an event, as its report says it (the ``change`` column)."""


@dataclass(frozen=True)
class EventChange:
    """One event a scored file created or changed."""

    event_id: int
    axis: str
    severity: str
    status: str
    start: pd.Timestamp
    end: pd.Timestamp
    change: str
    """One or more of :data:`REPORTED_CHANGES`, joined with ``+``."""


def landed_events_overlapping(
    engine: Engine | Connection, robot_id: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """The robot's landed events that share a moment with ``[start, end]``, by start."""
    query = (
        select(events)
        .where(
            (events.c.robot_id == robot_id)
            & from_landed_files()
            & (events.c.start_ts <= to_db_time(engine, end))
            & (events.c.end_ts >= to_db_time(engine, start))
        )
        .order_by(events.c.start_ts, events.c.event_id)
    )
    if isinstance(engine, Connection):
        return typed_events(pd.read_sql(query, engine))
    with engine.connect() as connection:
        return typed_events(pd.read_sql(query, connection))


def reconcile_events(
    engine: Engine | Connection,
    robot_id: str,
    source: str,
    span: tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp],
    detected: pd.DataFrame,
    provenance: tuple[str, str | None],
    routing: AlertRouting | None,
) -> ReconciledEvents:
    """Make the robot's stored events over ``span`` those of ``detected``, in one transaction.

    Parameters
    ----------
    engine
        Database holding the events table; a connection writes in its caller's
        transaction (the one storing the file's readings), which decides what stays.
    robot_id, source
        The robot, and the scored file's partition key: the source of the events that start
        in it, and of new events (also one found in the stored readings around the file).
    span
        The file's first and last reading, and the last reading the pass scored.
    detected
        The pass's events that end at or after the file's first reading, with ``status``.
    provenance
        Model version and run id, stored on every event the pass writes.
    routing
        Where notifications go; None queues none.
    """
    first, file_last, last = span
    now = pd.Timestamp(datetime.now(UTC))
    found = detected.to_dict("records")
    with in_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            key = source_lock_key(robot_id, ROBOT_EVENTS)
            connection.execute(select(func.pg_advisory_xact_lock(key)))
        begin = min([first, *(event["start"] for event in found)])
        stored = landed_events_overlapping(connection, robot_id, begin, last).to_dict("records")
        matches, removed = _match(stored, found, first, last)
        rows = event_rows(
            connection, source, detected, *provenance, robot_id, to_db_time(connection, now)
        )
        written, changes, report = _write(
            connection, matches, stored, rows, found, (first, file_last)
        )
        if removed:
            connection.execute(delete(events).where(events.c.event_id.in_(removed)))
        queued = (
            0
            if routing is None or not written
            else enqueue_notifications(connection, routing, written, changes, now)
        )
    continued = [stored[i] for i in matches.values() if stored[i]["start_ts"] < first]
    own = sum(
        row not in matches or first <= event["start"] <= file_last
        for row, event in enumerate(found)
    )
    return ReconciledEvents(
        own,
        queued,
        tuple(int(event["event_id"]) for event in continued),
        removed,
        {kind: changes.count(kind) for kind in sorted(set(changes))},
        tuple(report),
    )


def _match(
    stored: Sequence[Record], found: Sequence[Record], first: pd.Timestamp, last: pd.Timestamp
) -> tuple[dict[int, int], tuple[int, ...]]:
    """Pair each found event with a stored one of its axis: the one with its start and
    severity if there is one, else the earliest unpaired one it overlaps (of its severity
    first). Stored events the pass supersedes and pairs with none are removed: those
    overlapping the span, or a found event.

    Returns
    -------
    tuple
        Position in ``found`` → position in ``stored`` it updates; the event ids removed.
    """
    exact = {
        (event["axis"], event["start_ts"], event["severity"]): index
        for index, event in reversed(list(enumerate(stored)))
    }
    matches: dict[int, int] = {}
    for row, event in enumerate(found):
        index = exact.get((event["axis"], event["start"], event["severity"]))
        if index is not None and index not in matches.values():
            matches[row] = index
    superseded: set[int] = set()
    for row, event in enumerate(found):
        overlapping = [
            index
            for index, old in enumerate(stored)
            if old["axis"] == event["axis"]
            and old["start_ts"] <= event["end"]
            and old["end_ts"] >= event["start"]
        ]
        superseded.update(overlapping)
        free = [index for index in overlapping if index not in matches.values()]
        if row not in matches and free:
            same = [index for index in free if stored[index]["severity"] == event["severity"]]
            matches[row] = (same or free)[0]
    paired = set(matches.values())
    removed = tuple(
        int(old["event_id"])
        for index, old in enumerate(stored)
        if index not in paired
        and (index in superseded or (old["end_ts"] >= first and old["start_ts"] <= last))
    )
    return matches, removed


def _write(
    connection: Connection,
    matches: dict[int, int],
    stored: Sequence[Record],
    rows: list[dict[str, Any]],
    found: Sequence[Record],
    file_span: tuple[pd.Timestamp, pd.Timestamp],
) -> tuple[list[dict[str, Any]], list[str], list[EventChange]]:
    """Update the matched events and insert the new ones; the notifying changes, and the
    report of every event created or changed."""
    written: list[dict[str, Any]] = []
    changes: list[str] = []
    report: list[EventChange] = []
    for row, event, values in zip(range(len(rows)), found, rows, strict=True):
        status = str(event["status"])
        if row not in matches:
            new = {**values, **lifecycle_columns(status, values["created_at"])}
            new["event_id"] = connection.execute(
                events.insert().returning(events.c.event_id), new
            ).scalar_one()
            written.append(new)
            changes.append(OPENED)
            report.append(_reported(new["event_id"], event, status, [NEW]))
            continue
        before = stored[matches[row]]
        starts_here = file_span[0] <= event["start"] <= file_span[1]
        updated = {
            **values,
            "source": values["source"] if starts_here else before["source"],
            "created_at": to_db_time(connection, before["created_at"]),
            **lifecycle_columns(status, values["created_at"], _resolved_at(connection, before)),
        }
        event_id = int(before["event_id"])
        connection.execute(update(events).where(events.c.event_id == event_id).values(updated))
        for change in _changes(before, updated):
            written.append({**updated, "event_id": event_id})
            changes.append(change)
        kinds = _reported_kinds(before, event, status)
        if kinds:
            report.append(_reported(event_id, event, status, kinds))
    return written, changes, report


def _reported_kinds(before: Record, found: Record, status: str) -> list[str]:
    """How a pass changed a stored event: its start moved, its end grew, it reached ERROR,
    it ended (none: found as it was)."""
    kinds = []
    if pd.Timestamp(found["start"]) != pd.Timestamp(before["start_ts"]):
        kinds.append(START_REVISED)
    if pd.Timestamp(found["end"]) > pd.Timestamp(before["end_ts"]):
        kinds.append(EXTENDED)
    if before["severity"] != "ERROR" and found["severity"] == "ERROR":
        kinds.append(ESCALATED_CHANGE)
    if before["status"] == OPEN and status == RESOLVED:
        kinds.append(RESOLVED_REPORT)
    return kinds


def _reported(event_id: int, found: Record, status: str, kinds: list[str]) -> EventChange:
    return EventChange(
        int(event_id),
        str(found["axis"]),
        str(found["severity"]),
        status,
        pd.Timestamp(found["start"]),
        pd.Timestamp(found["end"]),
        "+".join(kinds),
    )


def _resolved_at(connection: Connection, event: Record) -> datetime | None:
    """When a stored event was first resolved, or None while it is open."""
    if event["status"] != RESOLVED:
        return None
    return to_db_time(connection, event["resolved_at"])


def _changes(before: Record, after: Record) -> list[str]:
    """The notifying changes from ``before`` to ``after``: ERROR reached, then resolved."""
    changes = []
    if before["severity"] != "ERROR" and after["severity"] == "ERROR":
        changes.append(ESCALATED)
    if before["status"] == OPEN and after["status"] == RESOLVED:
        changes.append(RESOLVED_CHANGE)
    return changes
