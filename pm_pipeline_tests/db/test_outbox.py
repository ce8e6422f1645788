"""The outbox is written with the events: together or not at all, once per event change."""

import json

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.notifications.routing import EMAIL, WEBHOOK, AlertRouting
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import read_events, store_events
from pm_pipeline.db.outbox import read_outbox
from pm_pipeline.db.registry import register_model

ROBOT = "r1"
BOTH = AlertRouting((WEBHOOK, EMAIL), ui_url="http://ui:3000")


@pytest.fixture(scope="module")
def model(robot_day: pd.DataFrame):
    return fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())


@pytest.fixture(scope="module")
def detected(model, robot_day: pd.DataFrame) -> pd.DataFrame:
    """Three ALERTs and two ERRORs."""
    events = detect_events(model, robot_day)
    picked = pd.concat(
        [
            events[events["severity"] == "ALERT"].head(3),
            events[events["severity"] == "ERROR"].head(2),
        ]
    )
    return picked.sort_values("start").reset_index(drop=True)


@pytest.fixture
def engine(database_url: str, model) -> sa.Engine:
    engine = open_engine(database_url)
    register_model(engine, model, ROBOT, "run-0", {})
    return engine


def test_one_row_per_event_and_channel_with_the_stored_event(
    engine: sa.Engine, detected: pd.DataFrame, model
) -> None:
    written = store_events(engine, "a.csv", detected, model.version, "run-1", ROBOT, BOTH)
    assert (written.events, written.notifications) == (5, 10)
    outbox = read_outbox(engine)
    stored = read_events(engine, "a.csv")
    assert sorted(outbox["channel"].value_counts().to_dict().items()) == [
        (EMAIL, 5),
        (WEBHOOK, 5),
    ]
    assert set(outbox["event_id"]) == set(stored["event_id"])
    assert (outbox["attempts"] == 0).all() and outbox["delivered_at"].isna().all()
    payload = json.loads(outbox["payload_json"].iloc[0])
    first = stored.iloc[0]
    assert payload["event_id"] == int(first["event_id"])
    assert payload["severity"] == first["severity"] and payload["axis"] == first["axis"]
    assert payload["model_version"] == model.version and payload["status"] == "open"
    assert payload["run_url"] == "http://ui:3000/runs/run-1"
    assert pd.Timestamp(payload["start"]) == first["start_ts"]


def test_rescoring_the_same_file_queues_nothing_new(
    engine: sa.Engine, detected: pd.DataFrame, model
) -> None:
    store_events(engine, "a.csv", detected, model.version, "run-1", ROBOT, BOTH)
    again = store_events(engine, "a.csv", detected, model.version, "run-2", ROBOT, BOTH)
    assert (again.events, again.notifications) == (5, 0)
    assert set(read_events(engine, "a.csv")["run_id"]) == {"run-2"}  # the events were replaced
    assert len(read_outbox(engine)) == 10
    # An ALERT that is now an ERROR is a new change: one more notification per channel.
    escalated = detected.copy()
    escalated.loc[0, "severity"] = "ERROR"
    assert detected.loc[0, "severity"] == "ALERT"
    later = store_events(engine, "a.csv", escalated, model.version, "run-3", ROBOT, BOTH)
    assert later.notifications == 2


def test_min_severity_robots_and_no_channel(
    engine: sa.Engine, detected: pd.DataFrame, model
) -> None:
    errors_only = AlertRouting((WEBHOOK,), min_severity="ERROR")
    assert (
        store_events(
            engine, "a.csv", detected, model.version, "r", ROBOT, errors_only
        ).notifications
        == 2
    )
    other_robot = AlertRouting((WEBHOOK,), robots=frozenset({"r2"}))
    assert (
        store_events(
            engine, "b.csv", detected, model.version, "r", ROBOT, other_robot
        ).notifications
        == 0
    )
    assert (
        store_events(engine, "c.csv", detected, model.version, "r", ROBOT, None).notifications == 0
    )
    outbox = read_outbox(engine)
    assert len(outbox) == 2 and set(outbox["severity"]) == {"ERROR"}
    assert len(read_events(engine)) == 15


def test_a_failed_outbox_write_rolls_back_the_events(
    engine: sa.Engine, detected: pd.DataFrame, model
) -> None:
    store_events(engine, "a.csv", detected.head(2), model.version, "run-1", ROBOT, None)
    before = read_events(engine, "a.csv")

    @event.listens_for(engine, "before_cursor_execute")
    def _fail(_conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO PM_NOTIFICATION_OUTBOX"):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        store_events(engine, "a.csv", detected, model.version, "run-2", ROBOT, BOTH)
    event.remove(engine, "before_cursor_execute", _fail)
    # Neither the new events nor their notifications: the earlier events are still there.
    pd.testing.assert_frame_equal(read_events(engine, "a.csv"), before)
    assert read_outbox(engine).empty
