"""The engineer's answers: label an event, record maintenance, and what they ask of training.

See :mod:`pm_pipeline.core.feedback.labels` for what each label and record means.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, Table

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.evaluation.promotion import DEFAULT_MIN_TRAINING_ROWS
from pm_pipeline.core.feedback.labels import (
    Baseline,
    check_label,
    current_baseline,
    labelled_precision,
    newest_labels,
)
from pm_pipeline.core.notifications.routing import AlertRouting
from pm_pipeline.core.schema import is_synthetic_source
from pm_pipeline.db.events import read_event
from pm_pipeline.db.feedback import (
    add_label,
    add_maintenance,
    read_labels,
    read_maintenance,
)
from pm_pipeline.db.readings import count_readings_since
from pm_pipeline.db.registry import list_models

BASELINE_MIN_READINGS = DEFAULT_MIN_TRAINING_ROWS
"""Readings a new baseline needs before its model is trained: the fewest a version may be
promoted with (synthetic_events' ``min_training_rows``)."""


@dataclass(frozen=True)
class Labelled:
    """What labelling an event did."""

    label_id: int
    event_id: int
    robot_id: str
    label: str


def label_event(
    engine: Engine, event_id: int, label: str, by: str, note: str | None = None
) -> Labelled:
    """Append ``label`` to a landed event.

    Raises
    ------
    PipelineError
        When there is no such event, it is a synthetic set's, or the label is unknown.
    """
    check_label(label)
    event = read_event(engine, event_id)
    if is_synthetic_source(str(event["source"])):
        raise PipelineError(
            f"event {event_id} belongs to a synthetic verification set, not a landed file; "
            "label the events `pm-pipeline events` lists."
        )
    label_id = add_label(engine, event, label, by, note)
    return Labelled(label_id, event_id, str(event["robot_id"]), label)


def record_maintenance(
    engine: Engine,
    robot_id: str,
    performed_at: pd.Timestamp,
    by: str,
    note: str | None,
    routing: AlertRouting | None = None,
) -> list[int]:
    """Record work on ``robot_id`` at ``performed_at``; the ids of the open events it
    resolved. Each resolved event notifies as ``resolved`` on the channels of ``routing``
    (:func:`pm_pipeline.services.notifications.alert_routing`), with the maintenance as the
    reason; None notifies nothing."""
    if performed_at > pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=5):
        raise PipelineError(
            f"--at {performed_at:%Y-%m-%dT%H:%M:%SZ} is in the future; record maintenance "
            "once it is done."
        )
    return add_maintenance(engine, robot_id, performed_at, by, note, routing)[1]


@dataclass(frozen=True)
class RobotFeedback:
    """A robot's labels and maintenance, and what they ask of its next model."""

    newest_labels: pd.DataFrame
    maintenance: pd.DataFrame
    baseline: Baseline | None
    precision: float | None
    judged: int


def robot_feedback(engine: Engine, robot_id: str) -> RobotFeedback:
    """The robot's newest labels, maintenance records and current baseline."""
    newest = newest_labels(read_labels(engine, robot_id))
    records = read_maintenance(engine, robot_id)
    precision, judged = labelled_precision(newest)
    return RobotFeedback(newest, records, current_baseline(newest, records), precision, judged)


@dataclass(frozen=True)
class BaselineState:
    """Whether a robot's newest model predates its baseline, and how far retraining is."""

    baseline: Baseline | None
    readings_since: int
    """Readings stored from the baseline's start on, counted while the baseline is awaited
    and up to :data:`BASELINE_MIN_READINGS` (0 otherwise)."""
    model_predates: bool
    """True when no model, or only models older than the baseline, is active."""

    @property
    def awaiting(self) -> bool:
        """A new baseline the active model does not know yet."""
        return self.baseline is not None and self.model_predates

    @property
    def retraining_due(self) -> bool:
        """Awaiting, with enough readings for a model that may be promoted."""
        return self.awaiting and self.readings_since >= BASELINE_MIN_READINGS

    def describe(self) -> str:
        if self.baseline is None:
            return "no baseline set"
        since = f"{self.baseline.start:%Y-%m-%dT%H:%M:%SZ}"
        if not self.model_predates:
            return f"trained on the baseline from {since} ({self.baseline.reason})"
        return f"new baseline from {since} ({self.baseline.reason}): retraining " + (
            "due"
            if self.retraining_due
            else f"waits for {self.readings_since} of {BASELINE_MIN_READINGS} readings"
        )


def baseline_state(engine: Engine, table: Table, robot_id: str) -> BaselineState:
    """Where the robot stands against its newest baseline."""
    baseline = robot_feedback(engine, robot_id).baseline
    if baseline is None:
        return BaselineState(None, 0, False)
    active = [entry for entry in list_models(engine, robot_id) if entry.is_active]
    predates = not active or active[0].window_start < baseline.start
    if not predates:
        return BaselineState(baseline, 0, predates)
    since = count_readings_since(engine, table, robot_id, baseline.start, BASELINE_MIN_READINGS)
    return BaselineState(baseline, since, predates)
