"""Delivering from the outbox to a real local webhook and SMTP server: once, with backoff,
secrets masked; claims never hand one row to two senders."""

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.notifications.routing import EMAIL, WEBHOOK, AlertRouting
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import open_events, read_events, store_events
from pm_pipeline.db.outbox import claim_next, read_outbox
from pm_pipeline.db.registry import register_model
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.channels import SmtpChannel, WebhookChannel
from pm_pipeline.services.notifications import deliver_due, store_file_events
from pm_pipeline.services.scoring import ingest_and_detect
from pm_pipeline_tests.receivers import MailReceiver, WebhookReceiver, free_port

ROBOT = "r1"
BASE_S = 30.0


class Clock:
    """A clock the test moves by hand, so backoff is checked without waiting."""

    def __init__(self) -> None:
        self.now = pd.Timestamp.now(tz="UTC")

    def __call__(self) -> pd.Timestamp:
        return self.now


@pytest.fixture(scope="module")
def model(robot_day: pd.DataFrame):
    return fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())


@pytest.fixture(scope="module")
def detected(model, robot_day: pd.DataFrame) -> pd.DataFrame:
    return detect_events(model, robot_day).head(3)


@pytest.fixture
def engine(database_url: str, model) -> sa.Engine:
    engine = open_engine(database_url)
    register_model(engine, model, ROBOT, "run-0", {})
    return engine


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def mail() -> Iterator[MailReceiver]:
    receiver = MailReceiver().start()
    yield receiver
    receiver.stop()


def queue(engine: sa.Engine, detected: pd.DataFrame, model, channels: tuple[str, ...]) -> None:
    store_events(engine, "a.csv", detected, model.version, "run-1", ROBOT, AlertRouting(channels))


def test_each_notification_is_delivered_once_by_post_and_mail(
    engine: sa.Engine, detected: pd.DataFrame, model, webhook: WebhookReceiver, mail: MailReceiver
) -> None:
    queue(engine, detected, model, (WEBHOOK, EMAIL))
    channels = {
        WEBHOOK: WebhookChannel(webhook.url),
        EMAIL: SmtpChannel("127.0.0.1", mail.port, "none", "pm@example.com", ("a@example.com",)),
    }
    report = deliver_due(engine, channels, BASE_S)
    assert (report.delivered, report.failed) == (6, 0)
    keys = set(read_outbox(engine)["notification_key"])
    assert webhook.acknowledged_ids() == dict.fromkeys(keys, 1)
    assert mail.notification_ids() == dict.fromkeys(keys, 1)
    subjects = sorted(str(m["Subject"]) for m in mail.messages)
    stored = read_events(engine, "a.csv")
    assert subjects == sorted(
        f"[pm_pipeline] {e.severity} on {ROBOT} {e.axis} (open, event {e.event_id})"
        for e in stored.itertuples()
    )
    assert {body["event_id"] for body in webhook.acknowledged} == set(stored["event_id"])
    # Delivered rows are never sent again, whatever the sender is asked.
    assert deliver_due(engine, channels, BASE_S).delivered == 0
    assert len(webhook.received) == 3 and len(mail.messages) == 3
    assert read_outbox(engine)["delivered_at"].notna().all()


def test_failed_deliveries_back_off_and_the_third_try_gets_through(
    engine: sa.Engine, detected: pd.DataFrame, model, webhook: WebhookReceiver
) -> None:
    queue(engine, detected.head(1), model, (WEBHOOK,))
    webhook.fail_each = 2
    clock = Clock()
    channels = {WEBHOOK: WebhookChannel(webhook.url)}
    started = clock.now
    for tries, wait_s in ((1, BASE_S), (2, 2 * BASE_S)):
        report = deliver_due(engine, channels, BASE_S, clock=clock)
        assert report.failed == 1 and "HTTP 500" in report.errors[0]
        row = read_outbox(engine).iloc[0]
        assert row["attempts"] == tries and pd.isna(row["delivered_at"])
        retry_at = pd.Timestamp(row["next_attempt_at"])
        assert retry_at == clock.now + pd.Timedelta(seconds=wait_s)
        # Not due yet: nothing is sent.
        assert deliver_due(engine, channels, BASE_S, clock=clock) == type(report)()
        clock.now = retry_at
    assert deliver_due(engine, channels, BASE_S, clock=clock).delivered == 1
    [row] = read_outbox(engine).itertuples()
    assert row.attempts == 3 and row.delivered_at == clock.now
    assert clock.now - started == pd.Timedelta(seconds=3 * BASE_S)
    assert list(webhook.tries().values()) == [3]
    assert len(webhook.acknowledged) == 1


def test_an_unreachable_receiver_is_tried_once_per_tick_and_secrets_stay_masked(
    engine: sa.Engine, detected: pd.DataFrame, model
) -> None:
    queue(engine, detected, model, (WEBHOOK,))
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/s3cretToken?sig=s3cretSig"
    report = deliver_due(engine, {WEBHOOK: WebhookChannel(url)}, BASE_S)
    assert (report.delivered, report.failed) == (0, 1)
    outbox = read_outbox(engine)
    assert sorted(outbox["attempts"]) == [0, 0, 1]
    [error] = outbox["last_error"].dropna()
    assert error.startswith(f"webhook http://127.0.0.1:{url.split(':')[2].split('/')[0]}/*** ")
    assert "refused" in error.lower()
    for text in (error, *report.errors, repr(WebhookChannel(url))):
        assert "s3cret" not in text


def test_smtp_errors_never_show_the_password(
    engine: sa.Engine, detected: pd.DataFrame, model, mail: MailReceiver
) -> None:
    queue(engine, detected.head(1), model, (EMAIL,))
    # The test server offers no AUTH: the login fails, as with a wrong setting.
    channel = SmtpChannel(
        "127.0.0.1", mail.port, "none", "pm@x.com", ("a@x.com",), "pm", "mailPa55"
    )
    report = deliver_due(engine, {EMAIL: channel}, BASE_S)
    assert report.failed == 1 and f"SMTP server 127.0.0.1:{mail.port}" in report.errors[0]
    assert "mailPa55" not in report.errors[0] and "mailPa55" not in repr(channel)
    assert mail.messages == []


def test_two_senders_never_claim_the_same_row(
    engine: sa.Engine, detected: pd.DataFrame, model
) -> None:
    for index in range(8):
        store_events(
            engine, f"f{index}.csv", detected, model.version, "run", ROBOT, AlertRouting((WEBHOOK,))
        )
    claimed: list[int] = []
    now = pd.Timestamp.now(tz="UTC")
    start = threading.Barrier(4)

    def sender() -> None:
        start.wait()
        while (
            row := claim_next(engine, [WEBHOOK], now, now + pd.Timedelta(minutes=2))
        ) is not None:
            claimed.append(row.notification_id)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(claimed) == sorted(read_outbox(engine)["notification_id"])
    assert len(claimed) == 24


def test_status_is_open_only_for_events_at_the_end_of_the_readings(
    database_url: str, model, robot_day: pd.DataFrame, tmp_path: Path
) -> None:
    engine = open_engine(database_url)
    register_model(engine, model, ROBOT, "run-0", {})
    path = tmp_path / "day.csv"
    write_export(robot_day, path)
    scored = ingest_and_detect(
        engine, readings_table(), ROBOT, path, "0" * 64, model, ExportFormat()
    )
    settings = load_settings({"PM_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook"})
    written = store_file_events(engine, ROBOT, "day.csv", scored, model.version, "run", settings)
    events = read_events(engine, "day.csv")
    assert written.notifications == len(events) == len(scored.events)
    outbox = read_outbox(engine).merge(events, on="event_id")
    statuses = outbox["payload_json"].map(lambda text: json.loads(str(text))["status"])
    assert (outbox["change"] == "opened").all()
    still_open = set(open_events(events)["event_id"])
    assert set(outbox.loc[statuses == "open", "event_id"]) == still_open
    newest = robot_day["timestamp_recorded"].max()
    reach = pd.Timedelta(seconds=model.params.gap_factor * model.dt_s)
    assert (events.loc[events["status"] == "open", "end_ts"] >= newest - reach).all()
    assert (statuses == "resolved").sum() == len(events) - len(still_open) > 0
