"""The notification outbox: written with the events it announces, drained by a sender.

A row is one change of one event for one channel. It is inserted in the transaction that
stores the event, so an event is never stored without its notification, nor announced
without being stored. A sender claims a due row, delivers it, and marks it delivered or
schedules the next attempt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.notifications.keys import notification_key
from pm_pipeline.core.notifications.messages import event_payload
from pm_pipeline.core.notifications.routing import AlertRouting
from pm_pipeline.db.schema import notification_outbox as outbox
from pm_pipeline.db.timestamps import from_db_times, to_db_time

ERROR_CHARS = 1000


@dataclass(frozen=True)
class Notification:
    """A claimed outbox row, ready to deliver."""

    notification_id: int
    channel: str
    attempts: int
    """Failed deliveries before this one."""
    payload: dict[str, Any]


def enqueue_notifications(
    connection: Connection,
    routing: AlertRouting,
    stored: Sequence[Mapping[str, Any]],
    changes: Sequence[str],
    now: pd.Timestamp,
) -> int:
    """Queue one notification per covered event change and channel, inside the caller's
    transaction.

    Parameters
    ----------
    connection
        The transaction that stored the events.
    routing
        Channels, lowest severity and robots covered.
    stored
        The stored event rows, each with its ``event_id`` and ``status``.
    changes
        What happened to each row of ``stored`` (:data:`~pm_pipeline.core.notifications.
        routing.CHANGES`).
    now
        When they are queued (and first due).

    Returns
    -------
    int
        Rows queued; a change already queued (the same file scored again) adds none.
    """
    when = to_db_time(connection, now)
    rows = []
    for event, change in zip(stored, changes, strict=True):
        if not routing.covers(str(event["robot_id"]), str(event["severity"])):
            continue
        key = notification_key(
            event["robot_id"],
            event["source"],
            event["axis"],
            event["start_ts"],
            change,
            event["severity"],
        )
        payload = json.dumps(event_payload(event, str(event["status"]), change, key, routing))
        rows += [
            {
                "notification_key": key,
                "channel": channel,
                "robot_id": event["robot_id"],
                "event_id": int(event["event_id"]),
                "change": change,
                "severity": event["severity"],
                "payload_json": payload,
                "created_at": when,
                "attempts": 0,
                "next_attempt_at": when,
            }
            for channel in routing.channels
        ]
    if not rows:
        return 0
    inserted = connection.execute(_insert_new(connection).returning(outbox.c.notification_id), rows)
    return len(inserted.all())


def claim_next(
    engine: Engine, channels: Sequence[str], now: pd.Timestamp, lease_until: pd.Timestamp
) -> Notification | None:
    """Take the oldest due row of ``channels``, hiding it from other senders until
    ``lease_until`` (a sender that dies with it leaves it due again then).

    On Postgres the candidate is locked with ``FOR UPDATE SKIP LOCKED``, so two senders take
    different rows; everywhere the claim is an UPDATE that still requires the row to be due,
    so a row another sender took first is not taken twice.
    """
    at, until = to_db_time(engine, now), to_db_time(engine, lease_until)
    due = (
        outbox.c.delivered_at.is_(None)
        & (outbox.c.next_attempt_at <= at)
        & outbox.c.channel.in_(list(channels))
    )
    with engine.begin() as connection:
        row = connection.execute(
            select(
                outbox.c.notification_id, outbox.c.channel, outbox.c.attempts, outbox.c.payload_json
            )
            .where(due)
            .order_by(outbox.c.next_attempt_at, outbox.c.notification_id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        claimed = connection.execute(
            update(outbox)
            .where(due & (outbox.c.notification_id == row.notification_id))
            .values(next_attempt_at=until)
        )
        if claimed.rowcount != 1:
            return None
    return Notification(
        row.notification_id, row.channel, row.attempts, json.loads(row.payload_json)
    )


def mark_delivered(engine: Engine, notification_id: int, now: pd.Timestamp) -> None:
    """Record a delivery; the row is never sent again."""
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.notification_id == notification_id)
            .values(delivered_at=to_db_time(connection, now), attempts=outbox.c.attempts + 1)
        )


def mark_failed(engine: Engine, notification_id: int, error: str, retry_at: pd.Timestamp) -> None:
    """Record a failed attempt and when to try again; ``error`` must already be masked."""
    with engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.notification_id == notification_id)
            .values(
                attempts=outbox.c.attempts + 1,
                next_attempt_at=to_db_time(connection, retry_at),
                last_error=error[:ERROR_CHARS],
            )
        )


def read_outbox(engine: Engine, robot_id: str | None = None) -> pd.DataFrame:
    """The outbox rows, oldest first, with times as UTC timestamps."""
    query = select(outbox).order_by(outbox.c.notification_id)
    if robot_id is not None:
        query = query.where(outbox.c.robot_id == robot_id)
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    for column in ("created_at", "next_attempt_at", "delivered_at"):
        frame[column] = from_db_times(frame[column])
    return frame


def _insert_new(connection: Connection) -> Insert:
    """An INSERT that skips rows whose (key, channel) is already queued."""
    dialects: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
    if connection.dialect.name not in dialects:
        raise PipelineError(
            f"the notification outbox needs Postgres or SQLite, not {connection.dialect.name}; "
            "point PM_DATABASE_URL at one of them."
        )
    statement = dialects[connection.dialect.name](outbox)
    return statement.on_conflict_do_nothing(index_elements=["notification_key", "channel"])
