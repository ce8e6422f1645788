"""Fleet health: one row per robot with its status (see :mod:`pm_pipeline.core.views.fleet`)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, Table

from pm_pipeline.config.robots import Fleet
from pm_pipeline.config.settings import Settings
from pm_pipeline.core.views.fleet import Limits, RobotFacts, fleet_rows
from pm_pipeline.db.events import robot_open_events
from pm_pipeline.db.readings import last_ingested_at, newest_reading_time, stored_robot_ids
from pm_pipeline.db.registry import list_models
from pm_pipeline.services.feedback import baseline_state, robot_feedback
from pm_pipeline.services.quarantine import QuarantinedFile, list_quarantined, quarantined_since

QUARANTINE_WINDOW = pd.Timedelta(hours=24)


def fleet_robot_ids(engine: Engine, table: Table, fleet: Fleet) -> list[str]:
    """The robots file's robots, then any robot with stored readings that it lacks."""
    known = list(fleet.robot_ids)
    return known + [robot for robot in stored_robot_ids(engine, table) if robot not in known]


def fleet_health(
    engine: Engine,
    table: Table,
    fleet: Fleet,
    settings: Settings,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Every robot's status and the facts behind it, worst first (see
    :func:`pm_pipeline.core.views.fleet.fleet_rows`)."""
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    quarantined = list_quarantined(settings.drop_dir)
    robots = fleet_robot_ids(engine, table, fleet)
    # A robot whose files were all quarantined has no readings yet, and still belongs here.
    robots += [q.robot_id for q in quarantined if q.robot_id not in robots]
    facts = [robot_facts(engine, table, robot, quarantined, now) for robot in dict.fromkeys(robots)]
    limits = Limits(
        pd.Timedelta(minutes=settings.stale_after_minutes), pd.Timedelta(settings.model_max_age)
    )
    return fleet_rows(facts, now, limits)


def robot_facts(
    engine: Engine,
    table: Table,
    robot_id: str,
    quarantined: list[QuarantinedFile],
    now: pd.Timestamp,
) -> RobotFacts:
    """What one robot's status is judged from, read from the store and the drop folder."""
    still_open = robot_open_events(engine, robot_id)
    severities = still_open["severity"].value_counts()
    # One probe of the key's index, not a count of a year of readings: fleet_health reads
    # every robot's facts each time it refreshes.
    newest = newest_reading_time(engine, table, robot_id)
    active = next((entry for entry in list_models(engine, robot_id) if entry.is_active), None)
    state = baseline_state(engine, table, robot_id)
    feedback = robot_feedback(engine, robot_id)
    return RobotFacts(
        robot_id=robot_id,
        open_alerts=int(severities.get("ALERT", 0)),
        open_errors=int(severities.get("ERROR", 0)),
        newest_reading=newest,
        active_model=active.model_version if active else None,
        model_created=active.created_at if active else None,
        awaiting_baseline=state.describe() if state.awaiting else None,
        quarantined_24h=quarantined_since(quarantined, robot_id, now - QUARANTINE_WINDOW),
        precision=feedback.precision,
        labelled=feedback.judged,
        last_landed=last_ingested_at(engine, robot_id),
    )
