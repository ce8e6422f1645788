"""Notifications of stored events: queued with the events, delivered from the outbox.

Storing a scored file's events queues one notification per event change (opened, escalated,
resolved) and channel in the same transaction (:func:`store_file_events`). A sender (the
``notification_sensor``) calls :func:`deliver_due` every few seconds: it claims due rows one
at a time, delivers each, and marks it delivered, or failed with the time of the next try.
So a notification is sent at least once, and a delivered one is never sent again; only a
sender killed between the receiver's answer and the mark can send one again, with the same
``notification_id``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from pm_pipeline.config.settings import Settings
from pm_pipeline.core.notifications.routing import EMAIL, WEBHOOK, AlertRouting, retry_delay
from pm_pipeline.db.event_lifecycle import ReconciledEvents, reconcile_events
from pm_pipeline.db.failures import database_failure
from pm_pipeline.db.outbox import claim_next, mark_delivered, mark_failed
from pm_pipeline.services.channels import Channel, DeliveryFailed, SmtpChannel, WebhookChannel

if TYPE_CHECKING:  # scoring pulls in the detectors, which the sender does not need
    from pm_pipeline.services.scoring import ScoredFile

MAX_PER_TICK = 20
"""Notifications one sender tick delivers at most; the rest wait for the next tick."""
TICK_BUDGET_S = 30.0
"""A tick starts no new delivery after this long (Dagster stops a sensor tick at 60 s)."""
CLAIM_LEASE_S = 120.0
"""A claimed row stays hidden this long: longer than any tick, so a sender that dies
holding it leaves it due again afterwards."""


@dataclass(frozen=True)
class DeliveryReport:
    """What one call of :func:`deliver_due` did."""

    delivered: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()
    """Failure messages, secrets masked."""


def alert_routing(settings: Settings) -> AlertRouting | None:
    """Where notifications go, from the settings; None when no channel is configured."""
    if not settings.alert_channels:
        return None
    return AlertRouting(
        channels=settings.alert_channels,
        min_severity=settings.alert_min_severity,
        robots=frozenset(settings.alert_robots),
        ui_url=settings.dagster_ui_url,
    )


def store_file_events(
    engine: Engine | Connection,
    robot_id: str,
    source: str,
    scored: ScoredFile,
    model_version: str,
    run_id: str | None,
    settings: Settings,
) -> ReconciledEvents:
    """Store the events of a scored file's pass and queue their notifications, in one
    transaction (see :func:`pm_pipeline.db.event_lifecycle.reconcile_events`): an event it
    continues keeps its id; each event notifies when opened, escalated and resolved.

    ``engine`` a connection: in its transaction, the one storing the file's readings
    (:func:`pm_pipeline.services.scoring.ingest_and_detect`'s ``store_events``).
    """
    span = scored.span
    if span is None:
        return ReconciledEvents(0, 0)
    try:
        return reconcile_events(
            engine,
            robot_id,
            source,
            (span.first, span.file_last, span.last),
            span.events,
            (model_version, run_id),
            alert_routing(settings),
        )
    except DBAPIError as error:
        # A lost connection or a full disk rolled the events back: one line, not a traceback.
        failure = database_failure(error, f"storing the events of {source}")
        if failure is None:
            raise
        raise failure from error


def channels_from(settings: Settings) -> dict[str, Channel]:
    """The configured channels' senders, by channel name."""
    channels: dict[str, Channel] = {}
    if settings.alert_webhook_url:
        channels[WEBHOOK] = WebhookChannel(
            settings.alert_webhook_url, settings.alert_webhook_format
        )
    if settings.smtp_host:
        channels[EMAIL] = SmtpChannel(
            host=settings.smtp_host,
            port=settings.smtp_port_or_default,
            security=settings.smtp_security,
            sender=settings.alert_email_from or "",
            recipients=settings.alert_email_to,
            user=settings.smtp_user,
            password=settings.smtp_password,
        )
    return channels


def deliver_due(
    engine: Engine,
    channels: Mapping[str, Channel],
    retry_base_s: float,
    max_rows: int = MAX_PER_TICK,
    budget_s: float = TICK_BUDGET_S,
    clock: Callable[[], pd.Timestamp] | None = None,
) -> DeliveryReport:
    """Deliver due notifications of ``channels``, oldest first, within a tick's budget.

    A failed delivery is retried after :func:`~pm_pipeline.core.notifications.routing.
    retry_delay` of its attempts. A channel that cannot be reached is left alone for the
    rest of the call, so one dead receiver does not use up the tick.
    """
    if not channels:
        return DeliveryReport()
    now = clock or _utc_now
    started = time.monotonic()
    open_channels = list(channels)
    delivered, errors = 0, []
    for _ in range(max_rows):
        if not open_channels or time.monotonic() - started > budget_s:
            break
        claimed = claim_next(
            engine, open_channels, now(), now() + pd.Timedelta(seconds=CLAIM_LEASE_S)
        )
        if claimed is None:
            break
        try:
            channels[claimed.channel].send(claimed.payload)
        except DeliveryFailed as failure:
            wait = retry_delay(claimed.attempts + 1, retry_base_s)
            retry_at = now() + pd.Timedelta(seconds=wait)
            mark_failed(engine, claimed.notification_id, failure.message, retry_at)
            errors.append(f"{failure.message}; next try in {wait:g} s")
            if failure.unreachable:
                open_channels.remove(claimed.channel)
        else:
            mark_delivered(engine, claimed.notification_id, now())
            delivered += 1
    return DeliveryReport(delivered, len(errors), tuple(errors))


def _utc_now() -> pd.Timestamp:
    return pd.Timestamp(datetime.now(UTC))
