"""Labels on events and maintenance records: appended, never updated, read per robot."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, select, update

from pm_pipeline.core.detection.lifecycle import OPEN, RESOLVED
from pm_pipeline.core.feedback.labels import check_label
from pm_pipeline.core.notifications.routing import RESOLVED as RESOLVED_CHANGE
from pm_pipeline.core.notifications.routing import AlertRouting
from pm_pipeline.db.events import from_landed_files, typed_events
from pm_pipeline.db.outbox import enqueue_notifications
from pm_pipeline.db.schema import event_labels, events, maintenance, model_registry
from pm_pipeline.db.timestamps import from_db_times, to_db_time


def add_label(
    engine: Engine, event: pd.Series, label: str, by: str, note: str | None = None
) -> int:
    """Append ``label`` to a stored ``event`` (a row of :func:`pm_pipeline.db.events.read_event`);
    its id. The event's robot, axis, span, model version and severity are copied with it:
    a rescore may later store the event anew, and the label keeps what it judged.
    """
    row = {
        "event_id": int(event["event_id"]),
        "robot_id": str(event["robot_id"]),
        "axis": str(event["axis"]),
        "event_start": to_db_time(engine, event["start_ts"]),
        "event_end": to_db_time(engine, event["end_ts"]),
        "label": check_label(label),
        "note": note,
        "labelled_by": by,
        "labelled_at": to_db_time(engine, _now()),
        "model_version": str(event["model_version"]),
        "severity": str(event["severity"]),
    }
    with engine.begin() as connection:
        return int(
            connection.execute(
                event_labels.insert().returning(event_labels.c.label_id), row
            ).scalar_one()
        )


def read_labels(engine: Engine, robot_id: str | None = None) -> pd.DataFrame:
    """Every label (of one robot, or all), oldest first, times in UTC."""
    query = select(event_labels).order_by(event_labels.c.labelled_at, event_labels.c.label_id)
    if robot_id is not None:
        query = query.where(event_labels.c.robot_id == robot_id)
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    for column in ("event_start", "event_end", "labelled_at"):
        frame[column] = from_db_times(frame[column])
    return frame.astype({"event_id": "int64"})


def add_maintenance(
    engine: Engine,
    robot_id: str,
    performed_at: pd.Timestamp,
    by: str,
    note: str | None,
    routing: AlertRouting | None = None,
) -> tuple[int, list[int]]:
    """Record work on a robot, resolve its landed events still open before
    ``performed_at``, and queue a ``resolved`` notification of each, in one transaction.

    Parameters
    ----------
    routing
        Where notifications go (the events' own channels, severity and robots); None
        queues none.

    Returns
    -------
    tuple
        The record's id and the ids of the events it resolved.
    """
    when = _now()
    now, at = to_db_time(engine, when), to_db_time(engine, performed_at)
    reason = f"maintenance at {pd.Timestamp(performed_at):%Y-%m-%dT%H:%M:%SZ}" + (
        f": {note}" if note else ""
    )
    open_before = (
        (events.c.robot_id == robot_id)
        & from_landed_files()
        & (events.c.status == OPEN)
        & (events.c.start_ts < at)
    )
    with engine.begin() as connection:
        record = connection.execute(
            maintenance.insert().returning(maintenance.c.maintenance_id),
            {
                "robot_id": robot_id,
                "performed_at": at,
                "note": note,
                "recorded_by": by,
                "recorded_at": now,
            },
        ).scalar_one()
        resolved = typed_events(pd.read_sql(select(events).where(open_before), connection))
        if resolved.empty:
            return int(record), []
        connection.execute(
            update(events)
            .where(events.c.event_id.in_([int(i) for i in resolved["event_id"]]))
            .values(status=RESOLVED, resolved_at=now, resolution=reason[:512])
        )
        if routing is not None:
            now_resolved = resolved.assign(status=RESOLVED, resolution=reason[:512])
            rows = [{str(k): v for k, v in row.items()} for row in now_resolved.to_dict("records")]
            enqueue_notifications(connection, routing, rows, [RESOLVED_CHANGE] * len(rows), when)
    return int(record), [int(event_id) for event_id in resolved["event_id"]]


def read_maintenance(engine: Engine, robot_id: str | None = None) -> pd.DataFrame:
    """Maintenance records (of one robot, or all), oldest work first, times in UTC."""
    query = select(maintenance).order_by(maintenance.c.performed_at, maintenance.c.maintenance_id)
    if robot_id is not None:
        query = query.where(maintenance.c.robot_id == robot_id)
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    for column in ("performed_at", "recorded_at"):
        frame[column] = from_db_times(frame[column])
    return frame


def landed_events_with_models(
    engine: Engine, robot_id: str, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """The robot's landed events overlapping ``[start, end]``, each with the training-window
    start of the model that raised it (``model_start``), oldest first."""
    query = (
        select(
            events.c.event_id,
            events.c.axis,
            events.c.start_ts,
            events.c.end_ts,
            model_registry.c.window_start.label("model_start"),
        )
        .join(model_registry, model_registry.c.model_version == events.c.model_version)
        .where(
            (events.c.robot_id == robot_id)
            & from_landed_files()
            & (events.c.end_ts >= to_db_time(engine, start))
            & (events.c.start_ts <= to_db_time(engine, end))
        )
        .order_by(events.c.start_ts)
    )
    with engine.connect() as connection:
        frame = pd.read_sql(query, connection)
    for column in ("start_ts", "end_ts", "model_start"):
        frame[column] = from_db_times(frame[column])
    return frame.astype({"event_id": "int64"})


def _now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC))
