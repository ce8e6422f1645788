"""Notifications under the real daemon: a faulty file dropped into the folder reaches a local
webhook and a local SMTP server once per event; the same file again sends nothing; a
receiver refusing twice (HTTP 500, SMTP 451) gets it on the third try; and a daemon killed
between storing and sending loses none and doubles none, by webhook and by mail."""

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import SAMPLE_START, generate_robot_readings, write_export
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.e2e.daemon_harness import DaemonSite, archived, kill_tree, sensor_ticks
from pm_pipeline_tests.receivers import MailReceiver, WebhookReceiver, free_port

pytestmark = pytest.mark.slow  # a real dagster-daemon; `pytest -m "not slow"` leaves it out

HISTORY_HOURS = 8.0
SENDER = "notification_sensor"


@pytest.fixture(scope="module")
def readings() -> pd.DataFrame:
    return generate_robot_readings(HISTORY_HOURS + 4, SAMPLE_START, seed=11)


def trained(site: DaemonSite, readings: pd.DataFrame) -> DaemonSite:
    """History ingested and a model trained, through the command's entry point in this process."""
    site.prepare()
    split = readings[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=HISTORY_HOURS)
    write_export(readings[readings[TIME_COLUMN] < split], site.root / "history.csv")
    site.run_here("ingest", str(site.root / "history.csv"))
    site.run_here("train")
    return site


def faulty_file(site: DaemonSite, readings: pd.DataFrame, name: str, hours_in: float) -> Path:
    """Two hours of readings from ``hours_in`` after the history, with a worn axis."""
    end = readings[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=HISTORY_HOURS + hours_in + 2)
    path = site.root / name
    write_export(worn_slice(readings[readings[TIME_COLUMN] < end], HISTORY_HOURS + hours_in), path)
    return path


def land(site: DaemonSite, path: Path) -> None:
    """Drop ``path`` into the folder and wait until the daemon has scored and archived it."""
    shutil.copy(path, site.drop / path.name)
    wait_for(lambda: archived(site, path.stem), 240, f"{path.name} to be scored", site.daemon_log)


def stored_events(site: DaemonSite, source: str) -> pd.DataFrame:
    with sa.create_engine(site.readings_url).connect() as connection:
        return pd.read_sql(
            sa.text("SELECT event_id, severity FROM pm_events WHERE source = :s"),
            connection,
            params={"s": source},
        )


def outbox(site: DaemonSite) -> pd.DataFrame:
    with sa.create_engine(site.readings_url).connect() as connection:
        return pd.read_sql(sa.text("SELECT * FROM pm_notification_outbox"), connection)


def quiet_ticks(site: DaemonSite, count: int = 3) -> None:
    """Let the sender tick ``count`` more times, so anything it would still send is sent."""
    seen = sensor_ticks(site, SENDER)
    wait_for(
        lambda: sensor_ticks(site, SENDER) >= seen + count, 90, "sender ticks", site.daemon_log
    )


@pytest.fixture
def site(tmp_path: Path, postgres_schema_url: Callable[[], str]) -> Iterator[DaemonSite]:
    site = DaemonSite(tmp_path, postgres_schema_url())  # readings on Postgres: SKIP LOCKED
    yield site
    site.stop_all()


@pytest.fixture
def sqlite_site(tmp_path: Path) -> Iterator[DaemonSite]:
    site = DaemonSite(tmp_path, f"sqlite:///{tmp_path / 'readings.db'}")
    yield site
    site.stop_all()


def test_each_event_is_sent_once_by_webhook_and_mail(
    site: DaemonSite, readings: pd.DataFrame
) -> None:
    trained(site, readings)
    webhook, mail = WebhookReceiver().start(), MailReceiver().start()
    try:
        site.settings = {
            "PM_ALERT_WEBHOOK_URL": webhook.url,
            "PM_SMTP_HOST": "127.0.0.1",
            "PM_SMTP_PORT": str(mail.port),
            "PM_SMTP_SECURITY": "none",
            "PM_ALERT_EMAIL_FROM": "pm-pipeline@example.com",
            "PM_ALERT_EMAIL_TO": "maintenance@example.com",
            "PM_ALERT_RETRY_BASE_SECONDS": "1",
        }
        site.start_daemon()
        first = faulty_file(site, readings, "first.csv", 0.0)
        land(site, first)
        events = stored_events(site, "first.csv")
        assert "ERROR" in set(events["severity"])
        sent = lambda: len(webhook.acknowledged) + len(mail.messages)  # noqa: E731
        wait_for(lambda: sent() >= 2 * len(events), 120, "one POST and one e-mail per event")
        keys = dict.fromkeys(outbox(site)["notification_key"].unique(), 1)
        assert len(keys) == len(events)
        assert webhook.acknowledged_ids() == keys and mail.notification_ids() == keys
        assert sorted(b["event_id"] for b in webhook.acknowledged) == sorted(events["event_id"])

        # The same bytes dropped again are not scored again; the same file rescored under the
        # same name replaces its events but queues nothing: no POST, no e-mail.
        land(site, first)
        site.run_here("score", str(first))
        assert len(stored_events(site, "first.csv")) == len(events)
        quiet_ticks(site)
        assert webhook.acknowledged_ids() == keys and mail.notification_ids() == keys
        assert len(webhook.received) == len(events)

        # Both receivers refuse each notification twice (HTTP 500, SMTP 451): the third try
        # gets through. The second file continues the first, so it may also resolve or
        # escalate the first file's events: every change queued notifies once.
        webhook.fail_each = mail.fail_each = 2
        land(site, faulty_file(site, readings, "second.csv", 2.0))
        second = stored_events(site, "second.csv")
        assert len(second) > 0
        queued = outbox(site)
        total = int((queued["channel"] == "webhook").sum())
        assert total >= len(events) + len(second)
        opened = queued[queued["change"] == "opened"]
        assert not opened.duplicated(["event_id", "channel"]).any()
        wait_for(
            lambda: len(webhook.acknowledged) == total,
            180,
            "the second file's notifications after two refusals each",
            site.daemon_log,
        )
        new = set(webhook.tries()) - set(keys)
        assert {webhook.tries()[key] for key in new} == {3}
        assert {webhook.acknowledged_ids()[key] for key in new} == {1}
        # The receiver acknowledges before the sender records the delivery: wait for the record.
        webhook_rows = lambda: outbox(site).query("channel == 'webhook'")  # noqa: E731
        wait_for(
            lambda: bool(webhook_rows()["delivered_at"].notna().all()),
            60,
            "the deliveries recorded",
        )
        assert set(webhook_rows()["attempts"]) <= {1, 3}
        wait_for(lambda: len(mail.messages) == total, 180, "the e-mails")
        assert {mail.tries()[key] for key in new} == {3}
        assert {mail.notification_ids()[key] for key in new} == {1}
        quiet_ticks(site)
        assert len(webhook.acknowledged) == total
        assert len(mail.messages) == total
        rows = outbox(site)
        errors = rows.set_index("channel")["last_error"].dropna()
        assert errors.filter(like="webhook").str.contains("HTTP 500").all()
        assert errors.filter(like="email").str.contains("451").all()
        assert "T0KEN" not in site.daemon_log() and "T0KEN" not in "".join(
            rows["last_error"].dropna()
        )
    finally:
        webhook.stop()
        mail.stop()


def test_a_daemon_killed_before_sending_loses_none_and_doubles_none(
    sqlite_site: DaemonSite, readings: pd.DataFrame
) -> None:
    site = trained(sqlite_site, readings)
    port, mail_port = free_port(), free_port()  # nothing listens yet: both receivers down
    site.settings = {
        "PM_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook/T0KEN",
        "PM_SMTP_HOST": "127.0.0.1",
        "PM_SMTP_PORT": str(mail_port),
        "PM_SMTP_SECURITY": "none",
        "PM_ALERT_EMAIL_FROM": "pm-pipeline@example.com",
        "PM_ALERT_EMAIL_TO": "maintenance@example.com",
        "PM_ALERT_RETRY_BASE_SECONDS": "1",
    }
    daemon = site.start_daemon()
    land(site, faulty_file(site, readings, "line.csv", 0.0))
    events = stored_events(site, "line.csv")
    assert len(events) > 0
    wait_for(lambda: len(outbox(site)) == 2 * len(events), 60, "the queued notifications")
    kill_tree(daemon.pid)
    daemon.wait(timeout=30)
    assert outbox(site)["delivered_at"].isna().all()

    webhook, mail = WebhookReceiver(port=port).start(), MailReceiver(port=mail_port).start()
    try:
        site.start_daemon()
        wait_for(
            lambda: len(webhook.acknowledged) >= len(events) and len(mail.messages) >= len(events),
            240,
            "every notification after the restart, by webhook and by mail",
            site.daemon_log,
        )
        quiet_ticks(site)
        rows = outbox(site)
        once = dict.fromkeys(rows["notification_key"], 1)
        assert webhook.acknowledged_ids() == once and mail.notification_ids() == once
        assert len(webhook.received) == len(events) and len(mail.messages) == len(events)
        assert rows["delivered_at"].notna().all()
    finally:
        webhook.stop()
        mail.stop()
