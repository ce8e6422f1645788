"""A robot's landed events kept as one long pass would find them, one scored file at a time.

Scoring a file yields the events of a pass over its readings and the stored readings around
it (:class:`pm_pipeline.services.continuation.ScoredSpan`). Here they replace the robot's
stored events over that stretch, in one transaction: an event found again (same robot and
axis, overlapping in time) keeps its id and is extended, escalated or resolved in place; a
new one is inserted; a stored one the pass no longer finds is removed. Each change queues
its notification in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, select, update

from pm_pipeline.core.detection.lifecycle import OPEN, RESOLVED
from pm_pipeline.core.notifications.routing import ESCALATED, OPENED, AlertRouting
from pm_pipeline.core.notifications.routing import RESOLVED as RESOLVED_CHANGE
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

ROBOT_EVENTS = "\x00landed events"
"""The lock name of all of one robot's landed events: a pass may touch several files'."""


@dataclass(frozen=True)
class ReconciledEvents:
    """What storing one pass's events did."""

    events: int
    """Events of the pass now stored (new or updated)."""
    notifications: int
    continued: tuple[int, ...] = ()
    """Ids of stored events that started before the file and were carried into it."""
    removed: tuple[int, ...] = ()
    """Ids of stored events the pass no longer finds (merged into another, or gone)."""
    changes: dict[str, int] = field(default_factory=dict)
    """Notifying changes by kind."""


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
    engine: Engine,
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
        Database holding the events table.
    robot_id, source
        The robot, and the scored file's partition key: the source of the events that start
        in it, and of new events.
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
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            key = source_lock_key(robot_id, ROBOT_EVENTS)
            connection.execute(select(func.pg_advisory_xact_lock(key)))
        begin = min(first, detected["start"].min()) if len(detected) else first
        stored = landed_events_overlapping(connection, robot_id, begin, last)
        plan = _match(stored, detected, first, last)
        rows = event_rows(
            connection, source, detected, *provenance, robot_id, to_db_time(connection, now)
        )
        written, changes = _write(connection, plan, stored, rows, detected, (first, file_last), now)
        if plan.removed:
            connection.execute(delete(events).where(events.c.event_id.in_(plan.removed)))
        queued = (
            0
            if routing is None or not written
            else enqueue_notifications(connection, routing, written, changes, now)
        )
    counts = pd.Series(changes, dtype=object).value_counts()
    return ReconciledEvents(
        len(rows),
        queued,
        tuple(int(stored.loc[i, "event_id"]) for i in plan.continued),
        plan.removed,
        {str(kind): int(n) for kind, n in counts.items()},
    )


@dataclass(frozen=True)
class _Plan:
    matches: dict[int, int]
    """Row of ``detected`` → row of ``stored`` it updates."""
    continued: tuple[int, ...]
    removed: tuple[int, ...]


def _match(stored: pd.DataFrame, detected: pd.DataFrame, first, last) -> _Plan:
    """Pair each detected event with a stored one of its axis: the one with its start and
    severity if there is one, else the earliest unpaired one it overlaps (of its severity
    first). Stored events the pass supersedes and pairs with none are removed: those
    overlapping the span, or a detected event."""
    matches: dict[int, int] = {}
    key = ["axis", "start_ts", "severity"]
    exact = (
        detected.rename(columns={"start": "start_ts"})
        .reset_index()
        .merge(stored[key].reset_index(), on=key, suffixes=("_detected", "_stored"))
    )
    for row, match in zip(exact["index_detected"], exact["index_stored"], strict=True):
        if int(match) not in matches.values() and int(row) not in matches:
            matches[int(row)] = int(match)
    superseded = pd.Series(False, index=stored.index)
    for row, event in detected.iterrows():
        overlapping = (
            (stored["axis"] == event["axis"])
            & (stored["start_ts"] <= event["end"])
            & (stored["end_ts"] >= event["start"])
        )
        superseded |= overlapping
        if int(row) in matches:
            continue
        free = stored[overlapping & ~stored.index.isin(list(matches.values()))]
        if len(free):
            same = free[free["severity"] == event["severity"]]
            matches[int(row)] = int((same if len(same) else free).index[0])
    in_span = (stored["end_ts"] >= first) & (stored["start_ts"] <= last)
    paired = stored.index.isin(list(matches.values()))
    removed = stored.loc[(in_span | superseded) & ~paired, "event_id"]
    continued = tuple(i for i in matches.values() if stored.loc[i, "start_ts"] < first)
    return _Plan(matches, continued, tuple(int(i) for i in removed))


def _write(
    connection: Connection,
    plan: _Plan,
    stored: pd.DataFrame,
    rows: list[dict[str, Any]],
    detected: pd.DataFrame,
    file_span: tuple[pd.Timestamp, pd.Timestamp],
    now: pd.Timestamp,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Update the matched events and insert the new ones; the notifying changes."""
    written: list[dict[str, Any]] = []
    changes: list[str] = []
    when = to_db_time(connection, now)
    for index, row in enumerate(rows):
        status = str(detected["status"].iloc[index])
        match = plan.matches.get(index)
        if match is None:
            new = {**row, **lifecycle_columns(status, when)}
            new["event_id"] = connection.execute(
                events.insert().returning(events.c.event_id), new
            ).scalar_one()
            written.append(new)
            changes.append(OPENED)
            continue
        before = stored.loc[match]
        updated = _updated(connection, row, before, status, when, file_span, detected.iloc[index])
        connection.execute(
            update(events).where(events.c.event_id == int(before["event_id"])).values(updated)
        )
        for change in _changes(before, updated):
            written.append({**updated, "event_id": int(before["event_id"])})
            changes.append(change)
    return written, changes


def _updated(
    connection: Connection,
    row: Mapping[str, Any],
    before: pd.Series,
    status: str,
    when: datetime,
    file_span: tuple[pd.Timestamp, pd.Timestamp],
    event: pd.Series,
) -> dict[str, Any]:
    """The stored event's new values: the pass's, keeping its id, creation time and (unless
    it now starts in this file) its source; resolved as of when it first was."""
    starts_here = file_span[0] <= event["start"] <= file_span[1]
    resolved_before = (
        to_db_time(connection, before["resolved_at"]) if before["status"] == RESOLVED else None
    )
    return {
        **row,
        "source": row["source"] if starts_here else before["source"],
        "created_at": to_db_time(connection, before["created_at"]),
        **lifecycle_columns(status, when, resolved_before),
    }


def _changes(before: pd.Series, after: Mapping[str, Any]) -> list[str]:
    """The notifying changes from ``before`` to ``after``: ERROR reached, then resolved."""
    changes = []
    if before["severity"] != "ERROR" and after["severity"] == "ERROR":
        changes.append(ESCALATED)
    if before["status"] == OPEN and after["status"] == RESOLVED:
        changes.append(RESOLVED_CHANGE)
    return changes
