"""Which events notify, under which key, what the messages say, and when a retry comes."""

import pandas as pd
import pytest

from pm_pipeline.core.notifications.keys import notification_key
from pm_pipeline.core.notifications.messages import email_message, event_payload, webhook_body
from pm_pipeline.core.notifications.routing import (
    EMAIL,
    OPENED,
    WEBHOOK,
    AlertRouting,
    mask_webhook_url,
    retry_delay,
)

START = pd.Timestamp("2026-01-06T06:19:14Z")
EVENT = {
    "event_id": 40,
    "robot_id": "robot-1",
    "axis": "axis_2",
    "severity": "ERROR",
    "start_ts": START,
    "end_ts": START + pd.Timedelta(seconds=4),
    "duration_s": 4.0,
    "z_peak": 3.4123,
    "z_mean": 3.02,
    "model_version": "262df62b9434",
    "source": "line.csv",
    "run_id": "30388f10",
}


def test_min_severity_and_robots_decide_what_notifies() -> None:
    every = AlertRouting((WEBHOOK,))
    assert every.covers("robot-1", "ALERT") and every.covers("robot-9", "ERROR")
    errors = AlertRouting((WEBHOOK,), min_severity="ERROR", robots=frozenset({"robot-1"}))
    assert errors.covers("robot-1", "ERROR")
    assert not errors.covers("robot-1", "ALERT")
    assert not errors.covers("robot-2", "ERROR")


def test_the_key_is_the_event_change_not_its_id() -> None:
    key = notification_key("robot-1", "line.csv", "axis_2", START, OPENED, "ERROR")
    naive = START.tz_localize(None)
    assert notification_key("robot-1", "line.csv", "axis_2", naive, OPENED, "ERROR") == key
    assert len(key) == 64
    others = [
        notification_key("robot-1", "line.csv", "axis_2", START, OPENED, "ALERT"),
        notification_key("robot-2", "line.csv", "axis_2", START, OPENED, "ERROR"),
        notification_key("robot-1", "other.csv", "axis_2", START, OPENED, "ERROR"),
        notification_key("robot-1", "line.csv", "axis_3", START, OPENED, "ERROR"),
        notification_key(
            "robot-1", "line.csv", "axis_2", START + pd.Timedelta(seconds=1), OPENED, "ERROR"
        ),
    ]
    assert key not in others and len(set(others)) == len(others)


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [retry_delay(n, 30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(8, 30) == 3600
    assert retry_delay(10_000, 30) == 3600


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/XYZ", "https://hooks.slack.com/***"),
        (
            "https://x.webhook.office.com/webhookb2/abc?sig=s3cret",
            "https://x.webhook.office.com/***",
        ),
        ("http://user:secret@127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("not a url", "***"),
    ],
)
def test_webhook_urls_are_masked(url: str, shown: str) -> None:
    assert mask_webhook_url(url) == shown


def test_payload_carries_the_event_and_a_readable_text() -> None:
    routing = AlertRouting((WEBHOOK, EMAIL), ui_url="http://ui:3000/")
    payload = event_payload(EVENT, "open", OPENED, "k" * 64, routing)
    assert payload["event_id"] == 40 and payload["status"] == "open"
    assert payload["start"] == "2026-01-06T06:19:14Z"
    assert payload["end"] == "2026-01-06T06:19:18Z"
    assert payload["peak_z"] == 3.41
    assert payload["run_url"] == "http://ui:3000/runs/30388f10"
    assert payload["text"].startswith("ERROR on robot-1 axis_2 (open, event 40)")
    assert "http://ui:3000/runs/30388f10" in payload["text"]
    assert webhook_body(payload, "json") == payload
    teams = webhook_body(payload, "teams")
    card = teams["attachments"][0]["content"]
    assert teams["type"] == "message" and card["type"] == "AdaptiveCard"
    assert card["actions"][0]["url"] == payload["run_url"]
    message = email_message(payload, "pm@example.com", ("a@example.com", "b@example.com"))
    assert message["Subject"] == "[pm_pipeline] ERROR on robot-1 axis_2 (open, event 40)"
    assert message["To"] == "a@example.com, b@example.com"
    assert "peak z 3.41" in message.get_content()


def test_a_notification_says_how_to_label_the_event_and_links_the_robots_health() -> None:
    routing = AlertRouting((WEBHOOK, EMAIL), ui_url="http://ui:3000/")
    payload = event_payload(EVENT, "open", OPENED, "k" * 64, routing)
    assert payload["health_url"] == "http://ui:3000/assets/fleet_health"
    assert payload["label_commands"] == {
        "confirmed": "pm-pipeline events label 40 confirmed",
        "false-alarm": "pm-pipeline events label 40 false-alarm",
        "new-normal": "pm-pipeline events label 40 new-normal",
    }
    text = payload["text"]
    assert "robot health: http://ui:3000/assets/fleet_health (robot-1's row)" in text
    assert "label it: pm-pipeline events label 40 confirmed|false-alarm|new-normal" in text
    card = webhook_body(payload, "teams")["attachments"][0]["content"]
    assert [action["title"] for action in card["actions"]] == ["Open the run", "Robot health"]
    message = email_message(payload, "pm@example.com", ("a@example.com",))
    assert "label it: pm-pipeline events label 40" in message.get_content()
