"""Storing a pass's events: an event found again keeps its id and is escalated and resolved
in place, each change notifying once; one the pass no longer finds is removed."""

import json

import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import TrainedModel, fit_minmax_scaling
from pm_pipeline.core.notifications.routing import WEBHOOK, AlertRouting
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.event_lifecycle import reconcile_events
from pm_pipeline.db.events import read_events
from pm_pipeline.db.outbox import read_outbox
from pm_pipeline.db.registry import register_model

ROBOT = "r1"
T0 = pd.Timestamp("2026-03-02T08:00:00Z")
ROUTING = AlertRouting((WEBHOOK,), min_severity="ALERT")


@pytest.fixture(scope="module")
def model(robot_day: pd.DataFrame) -> TrainedModel:
    return fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())


@pytest.fixture
def engine(database_url: str, model: TrainedModel) -> sa.Engine:
    engine = open_engine(database_url)
    register_model(engine, model, ROBOT, "run-0", {})
    return engine


def event(axis: str, severity: str, start_s: float, end_s: float, status: str) -> dict:
    start, end = T0 + pd.Timedelta(seconds=start_s), T0 + pd.Timedelta(seconds=end_s)
    return {
        "axis": axis,
        "severity": severity,
        "start": start,
        "end": end,
        "duration_s": end_s - start_s,
        "z_mean": 4.0,
        "z_peak": 6.0,
        "p_value": 1e-5,
        "n_samples": 20,
        "status": status,
    }


def store(engine: sa.Engine, model: TrainedModel, source: str, span_s: tuple, *found: dict):
    first, last = (T0 + pd.Timedelta(seconds=s) for s in span_s)
    detected = (
        pd.DataFrame(list(found))
        if found
        else pd.DataFrame(columns=list(event("a", "ALERT", 0, 0, "open")))
    )
    return reconcile_events(
        engine, ROBOT, source, (first, last, last), detected, (model.version, "run"), ROUTING
    )


def outbox_changes(engine: sa.Engine) -> list[tuple[int, str, str, str]]:
    rows = read_outbox(engine)
    status = rows["payload_json"].map(lambda text: json.loads(str(text))["status"])
    return list(zip(rows["event_id"], rows["change"], rows["severity"], status, strict=True))


def test_an_event_is_escalated_and_resolved_in_place_each_change_once(
    engine: sa.Engine, model: TrainedModel
) -> None:
    store(engine, model, "a.csv", (0, 100), event("axis_2", "ALERT", 60, 100, "open"))
    (event_id,) = read_events(engine)["event_id"]
    for rescored in (False, True):  # a rescore queues nothing new
        written = store(
            engine, model, "b.csv", (101, 300), event("axis_2", "ERROR", 60, 200, "resolved")
        )
        stored = read_events(engine)
        assert list(stored["event_id"]) == [event_id]
        row = stored.iloc[0]
        assert (row["source"], row["severity"], row["status"]) == ("a.csv", "ERROR", "resolved")
        assert row["end_ts"] == T0 + pd.Timedelta(seconds=200)
        assert row["resolved_at"] is not pd.NaT and row["resolved_at"] >= row["created_at"]
        assert written.continued == (event_id,)
        assert written.events == 0  # it stays under the file it started in
        assert written.changes == ({} if rescored else {"escalated": 1, "resolved": 1})
    assert outbox_changes(engine) == [
        (event_id, "opened", "ALERT", "open"),
        (event_id, "escalated", "ERROR", "resolved"),
        (event_id, "resolved", "ERROR", "resolved"),
    ]


def test_an_event_the_pass_no_longer_finds_is_removed_and_others_kept(
    engine: sa.Engine, model: TrainedModel
) -> None:
    store(engine, model, "a.csv", (0, 100), event("axis_1", "ALERT", 10, 30, "resolved"))
    store(engine, model, "b.csv", (101, 200), event("axis_3", "ALERT", 150, 170, "resolved"))
    written = store(engine, model, "b.csv", (101, 200))
    assert len(written.removed) == 1
    assert list(read_events(engine)["source"]) == ["a.csv"]


def test_robots_never_touch_each_others_events(engine: sa.Engine, model: TrainedModel) -> None:
    register_model(engine, model, "r2", "run-0", {})  # a version names it with its robot
    store(engine, model, "a.csv", (0, 100), event("axis_2", "ALERT", 60, 100, "open"))
    first, last = T0 + pd.Timedelta(seconds=101), T0 + pd.Timedelta(seconds=300)
    detected = pd.DataFrame([event("axis_2", "ERROR", 60, 200, "resolved")])
    reconcile_events(
        engine, "r2", "b.csv", (first, last, last), detected, (model.version, "r"), None
    )
    both = read_events(engine)
    assert list(zip(both["robot_id"], both["status"], strict=True)) == [
        (ROBOT, "open"),
        ("r2", "resolved"),
    ]
    assert both["event_id"].is_unique


def test_each_file_reports_every_event_it_created_or_changed(
    engine: sa.Engine, model: TrainedModel
) -> None:
    first = store(engine, model, "a.csv", (0, 100), event("axis_2", "ALERT", 60, 100, "open"))
    (event_id,) = read_events(engine)["event_id"]
    assert [(c.event_id, c.change) for c in first.report] == [(event_id, "new")]
    # The next file carries it on, escalates it, dates its start earlier and sees it end.
    later = store(
        engine,
        model,
        "b.csv",
        (101, 300),
        event("axis_2", "ERROR", 30, 200, "resolved"),
        event("axis_4", "ALERT", 150, 300, "open"),
    )
    changes = {c.axis: (c.event_id, c.change, c.status) for c in later.report}
    assert changes["axis_2"] == (event_id, "start revised+extended+escalated+resolved", "resolved")
    assert changes["axis_4"][1:] == ("new", "open")
    # Found again as it is: nothing to report.
    again = store(engine, model, "c.csv", (301, 400), event("axis_4", "ALERT", 150, 300, "open"))
    assert again.report == ()
