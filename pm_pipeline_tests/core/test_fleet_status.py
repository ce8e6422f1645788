"""A robot's health status and the fleet's exit code, judged from plain facts."""

import pandas as pd
import pytest

from pm_pipeline.core.views.fleet import (
    ALARM,
    NO_DATA,
    NO_MODEL,
    OK,
    STALE_MODEL,
    WATCH,
    Limits,
    RobotFacts,
    fleet_exit_code,
    fleet_rows,
    robot_status,
    status_line,
    status_markdown,
)

NOW = pd.Timestamp("2026-03-01T12:00:00Z")
LIMITS = Limits(pd.Timedelta(minutes=60), pd.Timedelta(days=30))


def facts(**changed) -> RobotFacts:
    healthy = {
        "robot_id": "r1",
        "open_alerts": 0,
        "open_errors": 0,
        "newest_reading": NOW - pd.Timedelta(minutes=5),
        "active_model": "abc123",
        "model_created": NOW - pd.Timedelta(days=1),
    }
    return RobotFacts(**{**healthy, **changed})


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ({}, OK),
        ({"open_alerts": 2}, WATCH),
        ({"open_alerts": 2, "open_errors": 1}, ALARM),
        ({"newest_reading": None}, NO_DATA),
        ({"newest_reading": NOW - pd.Timedelta(hours=2)}, NO_DATA),
        # An old export stored a minute ago is data arriving.
        (
            {
                "newest_reading": NOW - pd.Timedelta(days=90),
                "last_landed": NOW - pd.Timedelta(minutes=1),
            },
            OK,
        ),
        ({"active_model": None, "model_created": None}, NO_MODEL),
        ({"awaiting_baseline": "new baseline: waits for 10 of 1000 readings"}, STALE_MODEL),
        ({"model_created": NOW - pd.Timedelta(days=45)}, STALE_MODEL),
        # Open events outrank every other state: the badge shows what needs a person.
        ({"open_errors": 1, "active_model": None, "newest_reading": None}, ALARM),
    ],
)
def test_each_status_follows_from_its_facts(changed: dict, expected: str) -> None:
    status, why = robot_status(facts(**changed), NOW, LIMITS)
    assert status == expected
    assert why


def test_the_fleet_exits_like_a_monitoring_plugin() -> None:
    assert fleet_exit_code([OK, OK]) == 0
    assert fleet_exit_code([OK, WATCH]) == 1
    assert fleet_exit_code([OK, STALE_MODEL]) == 1
    assert fleet_exit_code([WATCH, ALARM, OK]) == 2
    assert fleet_exit_code([WATCH, NO_DATA]) == 3
    assert fleet_exit_code([NO_MODEL, ALARM]) == 2
    assert fleet_exit_code([]) == 3


def test_rows_put_the_worst_robot_first_and_the_line_names_it() -> None:
    rows = fleet_rows(
        [
            facts(robot_id="a"),
            facts(robot_id="b", open_errors=1),
            facts(robot_id="c", open_alerts=1),
        ],
        NOW,
        LIMITS,
    )
    assert list(rows["robot"]) == ["b", "c", "a"]
    assert list(rows["status"]) == [ALARM, WATCH, OK]
    line = status_line(rows)
    assert line.startswith("FLEET CRITICAL: 1 ALARM, 1 WATCH, 1 OK")
    assert "b ALARM" in line and "c WATCH" in line


def test_the_inline_table_stays_short_enough_to_show_in_place() -> None:
    many = fleet_rows(
        [facts(robot_id=f"robot-{n:03d}", open_alerts=n % 2) for n in range(80)], NOW, LIMITS
    )
    text = status_markdown(many)
    assert len(text) < 1000
    assert "| robot-001 | **WATCH** |" in text
    assert "more robots" in text
