"""notification_sensor: a tick delivers what is due and says so; with no channel it is idle."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.notifications.routing import WEBHOOK, AlertRouting
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import store_events
from pm_pipeline.db.outbox import read_outbox
from pm_pipeline.db.registry import register_model
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.defs.sensors import notification_sensor
from pm_pipeline_tests.receivers import WebhookReceiver


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def tick(url: str) -> dg.SkipReason:
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance,
            resources={
                "readings_db": ReadingsDatabaseResource(url=url),
                "settings": SettingsResource(),
            },
        )
        result = notification_sensor.evaluate_tick(context)
    assert not result.run_requests
    return dg.SkipReason(result.skip_message)


def test_a_tick_delivers_the_queued_notifications_once(
    sqlite_url: str,
    robot_day: pd.DataFrame,
    webhook: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())
    engine = open_engine(sqlite_url)
    register_model(engine, model, "r1", "run", {})
    events = detect_events(model, robot_day).head(4)
    store_events(engine, "a.csv", events, model.version, "run", "r1", AlertRouting((WEBHOOK,)))

    assert "no PM_ALERT_WEBHOOK_URL or PM_SMTP_HOST" in str(tick(sqlite_url).skip_message)
    assert webhook.received == []
    monkeypatch.setenv("PM_ALERT_WEBHOOK_URL", webhook.url)
    assert tick(sqlite_url).skip_message == "4 notification(s) delivered, 0 failed"
    assert tick(sqlite_url).skip_message == "0 notification(s) delivered, 0 failed"
    assert len(webhook.acknowledged) == 4
    assert read_outbox(engine)["delivered_at"].notna().all()
