"""When robots retrain: the nightly run's robots, and the robots whose new baseline is due."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, Table

from pm_pipeline.core.feedback.labels import Baseline
from pm_pipeline.db.readings import stored_robot_ids
from pm_pipeline.services.feedback import baseline_state


def robots_to_retrain(
    engine: Engine, table: Table, robots: Iterable[str], source_layout: str
) -> list[str]:
    """The ``robots`` with readings to train on: stored ones or, with your own readings
    table configured (``source_layout`` other than ``none``), every one (its rows are copied
    in when its run starts)."""
    if source_layout != "none":
        return list(robots)
    stored = set(stored_robot_ids(engine, table))
    return [robot for robot in robots if robot in stored]


@dataclass(frozen=True)
class DueBaseline:
    """A robot to retrain now on readings from its new baseline on."""

    robot_id: str
    baseline: Baseline
    about: str
    """Where the robot stands, in one line."""


@dataclass(frozen=True)
class BaselineRetraining:
    """The robots whose new baseline is due for retraining, and those still waiting for
    readings of it (one line each)."""

    due: list[DueBaseline]
    waiting: list[str]


def baselines_due(engine: Engine, table: Table, robots: Iterable[str]) -> BaselineRetraining:
    """Which of ``robots`` have a new baseline that their active model predates, with
    enough readings since to train one that may be promoted (see
    :class:`pm_pipeline.services.feedback.BaselineState`)."""
    due, waiting = [], []
    for robot in robots:
        state = baseline_state(engine, table, robot)
        if state.retraining_due and state.baseline is not None:
            due.append(DueBaseline(robot, state.baseline, f"{robot}: {state.describe()}"))
        elif state.awaiting:
            waiting.append(f"{robot}: {state.describe()}")
    return BaselineRetraining(due, waiting)
