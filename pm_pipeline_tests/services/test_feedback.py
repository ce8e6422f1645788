"""Labels and maintenance change what trains the next model: a false alarm goes back in, a
confirmed fault stays out, a new normal and a maintenance record start a new baseline, and
maintenance resolves the events open before it."""

from collections.abc import Iterator

import pandas as pd
import pytest

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.feedback.calibration import labelled_normal_of
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.notifications.routing import EMAIL, WEBHOOK, AlertRouting
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import read_event, read_events, replace_events
from pm_pipeline.db.feedback import read_labels
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.outbox import read_outbox
from pm_pipeline.db.registry import activate_model, register_model
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.channels import SmtpChannel, WebhookChannel
from pm_pipeline.services.feedback import (
    BASELINE_MIN_READINGS,
    baseline_state,
    label_event,
    record_maintenance,
    robot_feedback,
)
from pm_pipeline.services.notifications import deliver_due
from pm_pipeline.services.sources import training_readings
from pm_pipeline.services.training import TrainingWindow
from pm_pipeline_tests.receivers import MailReceiver, WebhookReceiver
from pm_pipeline_tests.services.test_training import stored_event

SETTINGS = {"PM_TRAINING_EXCLUDE_MARGIN_SECONDS": "0"}


@pytest.fixture
def stored(database_url: str, robot_day: pd.DataFrame):
    """A robot's day of readings, an active model, and one landed ALERT 10 minutes long."""
    engine, table = open_engine(database_url), readings_table()
    ingest_readings(engine, table, robot_day, "r1", "day.csv", "sha")
    model = fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())
    register_model(engine, model, "r1", None, {})
    activate_model(engine, model.version, "r1", "test")
    start = robot_day[TIME_COLUMN].iloc[9000]
    replace_events(engine, "landed.csv", stored_event(start, 10), model.version, None, "r1")
    [event_id] = read_events(engine, "landed.csv", "r1")["event_id"]
    return engine, table, int(event_id), start


def excluded(engine, url: str, table) -> int:
    settings = load_settings(SETTINGS)
    return training_readings(
        settings, engine, url, table, "r1", TrainingWindow()
    ).exclusion.readings


def test_the_newest_label_decides_whether_the_events_readings_train(
    stored, database_url: str
) -> None:
    engine, table, event_id, _ = stored
    flagged = excluded(engine, database_url, table)
    assert flagged > 200
    label_event(engine, event_id, "false-alarm", "ann", "door opened")
    assert excluded(engine, database_url, table) == 0
    # Back in, and marked normal for the fit (see test_feedback_calibration).
    window = training_readings(
        load_settings(SETTINGS), engine, database_url, table, "r1", TrainingWindow()
    ).readings
    event = read_event(engine, event_id)
    normal = labelled_normal_of(window)
    assert normal.to_dict("records") == [
        {"axis": "axis_2", "start_ts": event["start_ts"], "end_ts": event["end_ts"]}
    ]
    label_event(engine, event_id, "confirmed", "bob")
    assert excluded(engine, database_url, table) == flagged
    # Kept, never overwritten; the precision counts the newest label of each event.
    labels = read_labels(engine, "r1")
    assert list(labels["label"]) == ["false-alarm", "confirmed"]
    assert list(labels["labelled_by"]) == ["ann", "bob"]
    assert robot_feedback(engine, "r1").precision == 1.0
    with pytest.raises(PipelineError, match="no event with id 999"):
        label_event(engine, 999, "confirmed", "ann")
    with pytest.raises(PipelineError, match="unknown"):
        label_event(engine, event_id, "maybe", "ann")


def test_a_new_normal_trains_the_next_model_from_the_events_start(
    stored, database_url: str, robot_day: pd.DataFrame
) -> None:
    engine, table, event_id, start = stored
    label_event(engine, event_id, "new-normal", "ann")
    state = baseline_state(engine, table, "r1")
    later = int((robot_day[TIME_COLUMN] >= start).sum())
    assert later > BASELINE_MIN_READINGS  # counted no further: all that is compared with it
    assert state.awaiting and state.readings_since == BASELINE_MIN_READINGS
    assert state.retraining_due
    settings = load_settings(SETTINGS)
    window = training_readings(settings, engine, database_url, table, "r1", TrainingWindow())
    assert window.readings[TIME_COLUMN].min() == start
    assert window.exclusion.readings == 0  # the event is the new normal, not a fault


def test_maintenance_starts_a_new_baseline_and_resolves_what_was_open(
    stored, database_url: str, robot_day: pd.DataFrame
) -> None:
    engine, table, event_id, start = stored
    at = start + pd.Timedelta(hours=1)
    resolved = record_maintenance(engine, "r1", at, "ann", "gearbox replaced")
    assert resolved == [event_id]
    event = read_event(engine, event_id)
    assert event["status"] == "resolved"
    assert "maintenance at" in event["resolution"] and "gearbox replaced" in event["resolution"]
    settings = load_settings(SETTINGS)
    window = training_readings(settings, engine, database_url, table, "r1", TrainingWindow())
    times = robot_day[TIME_COLUMN]
    assert window.readings[TIME_COLUMN].tolist() == times[times >= at].tolist()
    state = baseline_state(engine, table, "r1")
    assert state.awaiting and "maintenance: gearbox replaced" in state.describe()
    # Work near the end: fewer readings since than a model needs, each counted.
    record_maintenance(engine, "r1", times.iloc[-100], "ann", "belt tensioned")
    waiting = baseline_state(engine, table, "r1")
    assert waiting.readings_since == 100 and not waiting.retraining_due
    assert f"waits for 100 of {BASELINE_MIN_READINGS} readings" in waiting.describe()
    # Work after the newest reading: no reading to train on yet, and the message says why.
    record_maintenance(engine, "r1", times.iloc[-1] + pd.Timedelta(seconds=1), "ann", None)
    with pytest.raises(PipelineError, match="readings since its new baseline"):
        training_readings(settings, engine, database_url, table, "r1", TrainingWindow())


@pytest.fixture
def receivers() -> Iterator[tuple[WebhookReceiver, MailReceiver]]:
    webhook, mail = WebhookReceiver().start(), MailReceiver().start()
    yield webhook, mail
    webhook.stop()
    mail.stop()


def test_maintenance_tells_the_engineers_channels_what_it_resolved(stored, receivers) -> None:
    engine, _, event_id, start = stored
    webhook, mail = receivers
    routing = AlertRouting((WEBHOOK, EMAIL), ui_url="http://ui.example:3000")
    at = start + pd.Timedelta(hours=1)
    assert record_maintenance(engine, "r1", at, "ann", "gearbox replaced", routing) == [event_id]
    queued = read_outbox(engine, "r1")
    assert sorted(queued["channel"]) == [EMAIL, WEBHOOK]
    assert set(queued["change"]) == {"resolved"} and set(queued["event_id"]) == {event_id}
    channels = {
        WEBHOOK: WebhookChannel(webhook.url),
        EMAIL: SmtpChannel("127.0.0.1", mail.port, "none", "pm@example.com", ("a@example.com",)),
    }
    assert deliver_due(engine, channels, 30.0).delivered == 2
    [body] = webhook.acknowledged
    assert (body["event_id"], body["change"], body["status"]) == (event_id, "resolved", "resolved")
    assert body["resolution"] == f"maintenance at {at:%Y-%m-%dT%H:%M:%SZ}: gearbox replaced"
    assert body["health_url"] == "http://ui.example:3000/assets/fleet_health"
    [message] = mail.messages
    assert f"(resolved, event {event_id})" in str(message["Subject"])
    text = message.get_payload()
    assert isinstance(text, str) and "resolved by maintenance at" in text
    assert f"pm-pipeline events label {event_id}" in text
    # Nothing is open any more: a second record resolves and sends nothing.
    record_maintenance(engine, "r1", at + pd.Timedelta(minutes=1), "ann", None, routing)
    assert deliver_due(engine, channels, 30.0).delivered == 0
    assert len(webhook.received) == 1 and len(mail.messages) == 1
