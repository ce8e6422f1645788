"""What a notification says: the webhook's JSON, a Teams card, and the e-mail."""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

import pandas as pd

from pm_pipeline.core.detection.contributions import contribution_shares, top_contributors
from pm_pipeline.core.feedback.labels import LABELS
from pm_pipeline.core.notifications.routing import AlertRouting

WEBHOOK_FORMATS = ("json", "teams")
"""``json``: every field plus ``text`` (Slack and Teams connectors show ``text``).
``teams``: an Adaptive Card message, as Teams Workflows webhooks expect."""


def event_payload(
    event: Mapping[str, Any], status: str, change: str, key: str, routing: AlertRouting
) -> dict[str, Any]:
    """The notification of one change of one stored event.

    Parameters
    ----------
    event
        A stored event row: ``event_id``, ``robot_id``, ``axis``, ``severity``, ``start_ts``,
        ``end_ts``, ``z_peak``, ``z_mean``, ``duration_s``, ``model_version``, ``source``,
        ``run_id``, and ``contributions`` (JSON; absent or None: the axis alone); a
        ``resolution`` (why it was resolved other than by its readings: maintenance) when
        it has one.
    status
        ``open`` (still going where the readings end) or ``resolved``.
    change
        What happened to the event (see :mod:`pm_pipeline.core.notifications.routing`).
    key
        The change's :func:`~pm_pipeline.core.notifications.routing.notification_key`, so a
        receiver can recognise a notification it has seen.
    routing
        Gives the link to the run.

    Returns
    -------
    dict
        JSON-ready fields, with a one-paragraph ``text`` for chat webhooks.
    """
    axis = str(event["axis"])
    payload: dict[str, Any] = {
        "notification_id": key,
        "change": change,
        "event_id": int(event["event_id"]),
        "robot_id": str(event["robot_id"]),
        "axis": str(event["axis"]),
        "severity": str(event["severity"]),
        "status": status,
        "start": _iso(event["start_ts"]),
        "end": _iso(event["end_ts"]),
        "duration_s": round(float(event["duration_s"]), 1),
        "peak_z": round(float(event["z_peak"]), 2),
        "mean_z": round(float(event["z_mean"]), 2),
        "model_version": str(event["model_version"]),
        "source": str(event["source"]),
        "run_id": event.get("run_id"),
        "run_url": routing.run_url(event.get("run_id")),
        # Which channels moved, largest share first: where the engineer should look.
        "contributions": [
            {"channel": channel, "share": round(share, 3)}
            for channel, share in contribution_shares(event.get("contributions"), axis)
        ],
        "top_contributors": top_contributors(event.get("contributions"), axis),
        "health_url": routing.health_url(),
        "label_commands": label_commands(int(event["event_id"])),
    }
    resolution = event.get("resolution")
    if isinstance(resolution, str) and resolution:
        payload["resolution"] = resolution
    payload["text"] = summary_text(payload)
    return payload


def label_commands(event_id: int) -> dict[str, str]:
    """The command that gives the event each label (see `pm-pipeline events label --help`)."""
    return {label: f"pm-pipeline events label {event_id} {label}" for label in LABELS}


def headline(payload: Mapping[str, Any]) -> str:
    """One line: severity, robot, axis, status."""
    return (
        f"{payload['severity']} on {payload['robot_id']} {payload['axis']} "
        f"({payload['status']}, event {payload['event_id']})"
    )


def summary_text(payload: Mapping[str, Any]) -> str:
    """The headline and the facts an engineer acts on, as plain text."""
    lines = [
        headline(payload),
        f"from {payload['start']} to {payload['end']} ({payload['duration_s']} s), "
        f"peak z {payload['peak_z']}",
        f"channels {payload['top_contributors']}",
        f"model {payload['model_version']}, file {payload['source']}",
    ]
    if payload.get("resolution"):
        lines.insert(1, f"resolved by {payload['resolution']}")
    if payload.get("run_url"):
        lines.append(f"run: {payload['run_url']}")
    if payload.get("health_url"):
        lines.append(f"robot health: {payload['health_url']} ({payload['robot_id']}'s row)")
    if payload.get("label_commands"):
        lines.append(
            f"label it: pm-pipeline events label {payload['event_id']} "
            + "|".join(payload["label_commands"])
            + " [--note TEXT]"
        )
    return "\n".join(lines)


def webhook_body(payload: Mapping[str, Any], fmt: str) -> dict[str, Any]:
    """The JSON to POST in webhook format ``fmt`` (one of :data:`WEBHOOK_FORMATS`)."""
    if fmt == "json":
        return dict(payload)
    facts = [
        {"title": title, "value": str(payload[field])}
        for title, field in (
            ("Start", "start"),
            ("End", "end"),
            ("Peak z", "peak_z"),
            ("Channels", "top_contributors"),
            ("Model", "model_version"),
            ("File", "source"),
        )
    ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": headline(payload), "weight": "Bolder", "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
    }
    actions = [
        {"type": "Action.OpenUrl", "title": title, "url": payload[field]}
        for title, field in (("Open the run", "run_url"), ("Robot health", "health_url"))
        if payload.get(field)
    ]
    if actions:
        card["actions"] = actions
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
    return {"type": "message", "text": payload["text"], "attachments": [attachment]}


def email_message(
    payload: Mapping[str, Any], sender: str, recipients: tuple[str, ...]
) -> EmailMessage:
    """The notification as an e-mail; the subject names severity, robot and axis."""
    message = EmailMessage()
    message["Subject"] = f"[pm_pipeline] {headline(payload)}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["X-PM-Notification-Id"] = str(payload["notification_id"])
    message.set_content(summary_text(payload) + "\n")
    return message


def _iso(value: Any) -> str:
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.isoformat().replace("+00:00", "Z")
