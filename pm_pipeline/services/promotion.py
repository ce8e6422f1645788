"""Promotion use cases: does a candidate still catch the faults the active model catches?"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, Table

from pm_pipeline.core.detection.registry import detect_events
from pm_pipeline.core.evaluation.promotion import (
    LandedFaultCheck,
    compare_landed_fault,
    nothing_to_compare,
)
from pm_pipeline.core.feedback.labels import without_relabelled
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.db.events import newest_landed_source, read_events
from pm_pipeline.db.readings import ingested_span, read_readings
from pm_pipeline.db.registry import list_models, load_model
from pm_pipeline.services.feedback import robot_feedback

EVENTS_CONTEXT = pd.Timedelta(minutes=30)
"""Readings around a file's events compared on when the file's own span is not recorded
(it was ingested under another name): enough for every detector's windows to fill."""


def check_newest_landed_fault(
    engine: Engine, table: Table, robot_id: str, candidate: TrainedModel
) -> LandedFaultCheck:
    """Score the stored readings of the robot's newest landed file with events with both the
    active model and ``candidate``, and compare (see
    :func:`pm_pipeline.core.evaluation.promotion.compare_landed_fault`).

    Passes, saying why, when there is nothing to compare: no active model yet, the
    candidate is the active version, or no landed file of the robot has events.
    """
    entry = next((e for e in list_models(engine, robot_id) if e.is_active), None)
    if entry is None:
        return nothing_to_compare(f"robot {robot_id} has no active model to compare with yet")
    active = entry.model_version
    if active == candidate.version:
        return nothing_to_compare(f"the candidate is the active version {active}")
    feedback = robot_feedback(engine, robot_id)
    baseline = feedback.baseline
    if baseline is not None and entry.window_start < baseline.start:
        return nothing_to_compare(
            f"the active version {active} predates the robot's new baseline from "
            f"{baseline.start:%Y-%m-%dT%H:%M:%SZ} ({baseline.reason}): what it flags measures "
            "the old normal"
        )
    source = newest_landed_source(engine, robot_id)
    if source is None:
        return nothing_to_compare(f"no landed file of robot {robot_id} has events yet")
    start, end = _file_span(engine, robot_id, source)
    readings = read_readings(engine, table, robot_id, start.isoformat(), end.isoformat())
    return compare_landed_fault(
        source,
        # What an engineer labelled a false alarm or a new normal need not be flagged again.
        without_relabelled(
            detect_events(load_model(engine, active), readings), feedback.newest_labels
        ),
        detect_events(candidate, readings),
    )


def _file_span(engine: Engine, robot_id: str, source: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last reading the robot's ingests of ``source`` stored or, when none is
    recorded under that name, the span of its events widened by :data:`EVENTS_CONTEXT`."""
    span = ingested_span(engine, robot_id, source)
    if span is not None:
        return span
    found = read_events(engine, source, robot_id)
    return found["start_ts"].min() - EVENTS_CONTEXT, found["end_ts"].max() + EVENTS_CONTEXT
