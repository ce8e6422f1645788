"""The fleet at a glance: each robot's active model, newest reading and open events."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, Table

from pm_pipeline.config.robots import Fleet
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.db.events import has_landed_events, robot_open_events
from pm_pipeline.db.readings import has_readings, readings_span, stored_robot_ids
from pm_pipeline.db.registry import list_models


@dataclass(frozen=True)
class RobotOverview:
    """One robot's line in ``pm-pipeline robots``."""

    robot_id: str
    axis_count: int | None
    """From the robots file; None for a robot known only from its stored readings."""
    active_model: str | None
    readings: int
    last_reading: pd.Timestamp | None
    open_events: int


def overview_fleet(engine: Engine, readings: Table, fleet: Fleet) -> list[RobotOverview]:
    """The fleet's robots, then any robot with stored readings that the robots file lacks."""
    known = fleet.robot_ids
    unlisted = [robot for robot in stored_robot_ids(engine, readings) if robot not in known]
    return [
        _overview(engine, readings, robot, fleet.robots[robot].export_format.axis_count)
        for robot in known
    ] + [_overview(engine, readings, robot, None) for robot in unlisted]


def _overview(
    engine: Engine, readings: Table, robot_id: str, axis_count: int | None
) -> RobotOverview:
    count, _, last = readings_span(engine, readings, robot_id)
    active = [entry.model_version for entry in list_models(engine, robot_id) if entry.is_active]
    still_open = robot_open_events(engine, robot_id)
    return RobotOverview(
        robot_id, axis_count, active[0] if active else None, count, last, len(still_open)
    )


def check_known_robot(engine: Engine, readings: Table, fleet: Fleet, robot_id: str) -> str:
    """``robot_id`` when the robots file lists it or the store holds its readings, models or
    events.

    Raises
    ------
    PipelineError
        For a robot nothing knows (a typo, most likely), naming the robots there are, before
        a command makes a run or a partition for it.
    """
    if robot_id in fleet.robots or has_readings(engine, readings, robot_id):
        return robot_id
    if list_models(engine, robot_id) or has_landed_events(engine, robot_id):
        return robot_id
    known = sorted({*fleet.robot_ids, *stored_robot_ids(engine, readings)})
    where = f"the robots file {fleet.source}" if fleet.source else "the deployment (no robots file)"
    raise PipelineError(
        f"robot {robot_id!r} is unknown: {where} does not list it and no readings, models or "
        f"events of it are stored; use one of {', '.join(known) or 'none yet'}, or ingest its "
        f"readings first (pm-pipeline ingest --robot {robot_id} FILE)."
    )


def stored_for(engine: Engine, readings: Table, robot_id: str) -> tuple[int, int]:
    """How many readings and model versions of the robot the store holds."""
    return readings_span(engine, readings, robot_id)[0], len(list_models(engine, robot_id))
