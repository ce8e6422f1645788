"""Promotion use cases: a candidate version's checks, and whether it becomes the active one."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from pm_pipeline.core.detection.registry import detect_events
from pm_pipeline.core.evaluation.metrics import match_injections
from pm_pipeline.core.evaluation.promotion import (
    LandedFaultCheck,
    PromotionChecks,
    compare_landed_fault,
    evaluate_promotion,
    nothing_to_compare,
)
from pm_pipeline.core.feedback.labels import without_relabelled
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.schema import synthetic_source
from pm_pipeline.core.simulation.synthetic import SyntheticSet
from pm_pipeline.db.events import newest_landed_source, read_events, replace_events
from pm_pipeline.db.readings import ingested_span, read_readings
from pm_pipeline.db.registry import activate_model, list_models, load_model, record_checks
from pm_pipeline.db.robot_store import RobotStore
from pm_pipeline.services.feedback import robot_feedback


@dataclass(frozen=True)
class PromotionVerdict:
    """What checking a candidate version found, and whether it was promoted."""

    model_version: str
    events: int
    """Events the candidate raised on its synthetic set."""
    events_source: str
    matched: pd.DataFrame
    """Each injected run and whether an event caught it."""
    checks: PromotionChecks
    landed: LandedFaultCheck
    promoted: bool
    outcome: str
    """One line: the version is now active, or why it was not promoted."""


def promote_if_checks_pass(
    store: RobotStore,
    synthetic: SyntheticSet,
    min_training_rows: int,
    run_id: str | None,
) -> PromotionVerdict:
    """Score the candidate (the registry's version that drew ``synthetic``) on its synthetic
    set, store those events, check it, record the checks with the version and make it the
    robot's active version when every check passes; otherwise the active version stays.

    Raises
    ------
    PipelineError
        When the registry holds no such version.
    """
    engine, robot_id = store.engine, store.robot_id
    model = load_model(engine, synthetic.model_version)
    events = detect_events(model, synthetic.readings)
    source = synthetic_source(model.version)
    replace_events(engine, source, events, model.version, run_id, robot_id)
    matched = match_injections(events, synthetic.injected)
    landed = check_newest_landed_fault(store, model)
    checks = evaluate_promotion(model, matched, min_training_rows, landed)
    record_checks(engine, model.version, checks.to_dict())
    if checks.passed:
        activate_model(engine, model.version, robot_id, "passed its checks", run_id)
        outcome = f"version {model.version} is now active for {robot_id}"
    else:
        outcome = f"version {model.version} not promoted: {'; '.join(checks.reasons)}"
    return PromotionVerdict(
        model.version, len(events), source, matched, checks, landed, checks.passed, outcome
    )


EVENTS_CONTEXT = pd.Timedelta(minutes=30)
"""Readings around a file's events compared on when the file's own span is not recorded
(it was ingested under another name): enough for every detector's windows to fill."""


def check_newest_landed_fault(store: RobotStore, candidate: TrainedModel) -> LandedFaultCheck:
    """Score the stored readings of the robot's newest landed file with events with both the
    active model and ``candidate``, and compare (see
    :func:`pm_pipeline.core.evaluation.promotion.compare_landed_fault`).

    Passes, saying why, when there is nothing to compare: no active model yet, the
    candidate is the active version, or no landed file of the robot has events.
    """
    engine, table, robot_id = store.engine, store.table, store.robot_id
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
