"""Training use cases: which readings train a robot's next model."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, Table

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.feedback.calibration import labelled_normal_spans, with_labelled_normal
from pm_pipeline.core.feedback.labels import Baseline, spans_to_exclude
from pm_pipeline.core.model.exclusion import Exclusion, exclude_flagged
from pm_pipeline.core.model.timeaxis import cadence_seconds
from pm_pipeline.core.model.trained import MIN_TRAINING_ROWS, axes_with_data
from pm_pipeline.core.model.windows import parse_utc, training_window_start
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.schema import CONTEXT_COLUMNS, TIME_COLUMN
from pm_pipeline.db.feedback import landed_events_with_models
from pm_pipeline.db.readings import newest_reading_time, read_readings
from pm_pipeline.services.feedback import BASELINE_MIN_READINGS, robot_feedback


@dataclass(frozen=True)
class TrainingWindow:
    """Bounds of a training window; all optional, ``last_days`` counted back from the
    robot's newest stored reading, ``limit`` keeping the newest readings only."""

    start: str | None = None
    end: str | None = None
    last_days: float | None = None
    limit: int | None = None


def read_training_window(
    engine: Engine,
    table: Table,
    robot_id: str,
    window: TrainingWindow,
    baseline: Baseline | None = None,
) -> pd.DataFrame:
    """The robot's stored readings inside ``window``, oldest first; none before
    ``baseline``'s start (a maintenance record or a new-normal label).

    Raises
    ------
    PipelineError
        When a bound is not an ISO 8601 time; the message names it. When a baseline leaves
        fewer readings than a model needs; the message names the baseline.
    """
    newest = newest_reading_time(engine, table, robot_id)
    start = training_window_start(window.start, window.last_days, newest)
    if baseline is not None and (start is None or pd.Timestamp(start) < baseline.start):
        start = baseline.start.isoformat()
    end = parse_utc(window.end, "end").isoformat() if window.end else None
    readings = read_readings(engine, table, robot_id, start, end, window.limit)
    if baseline is not None and len(readings) < MIN_TRAINING_ROWS:
        raise PipelineError(
            f"robot {robot_id} has {len(readings)} readings since its new baseline at "
            f"{baseline.start:%Y-%m-%dT%H:%M:%SZ} ({baseline.reason}); a model needs at least "
            f"{MIN_TRAINING_ROWS} and promotion {BASELINE_MIN_READINGS}. The "
            "baseline_retraining_sensor trains it once enough have landed."
        )
    return readings


PROBED_READINGS = 2000
"""Newest readings of a window read before a training run to see its axes and cadence."""


@dataclass(frozen=True)
class WindowProbe:
    """What the newest readings of a training window say before a run starts."""

    held: int
    """Readings in the window, counted up to the number asked for (at least 2000)."""
    axes: tuple[str, ...]
    """Axes with at least one reading among them."""
    cadence_s: float | None
    """Their median step; None with fewer than two readings."""


def probe_training_window(
    engine: Engine, table: Table, robot_id: str, window: TrainingWindow, needed: int
) -> WindowProbe:
    """The newest readings of ``window`` (up to ``needed`` or 2000, whichever is more):
    enough to tell whether the window is long enough and which axes carry readings, without
    reading a long window whole.

    Raises
    ------
    PipelineError
        When a bound is not an ISO 8601 time; the message names it.
    """
    newest = newest_reading_time(engine, table, robot_id)
    start = training_window_start(window.start, window.last_days, newest)
    end = parse_utc(window.end, "end").isoformat() if window.end else None
    probe = max(needed, PROBED_READINGS)
    limit = min(probe, window.limit) if window.limit else probe
    readings = read_readings(engine, table, robot_id, start, end, limit)
    times = readings[TIME_COLUMN]
    cadence = cadence_seconds(times) if len(readings) > 1 else None
    return WindowProbe(len(readings), axes_with_data(readings), cadence)


def without_flagged_readings(
    engine: Engine,
    robot_id: str,
    readings: pd.DataFrame,
    margin_s: float,
    baseline: Baseline | None = None,
) -> tuple[pd.DataFrame, Exclusion]:
    """``readings`` (the robot's, oldest first) without those inside the robot's events
    found in landed files, each widened by ``margin_s`` seconds; the synthetic sets' events
    and other robots' events leave nothing out, and so do events labelled ``false-alarm``
    or ``new-normal`` (see :mod:`pm_pipeline.core.feedback.labels`). The kept readings carry
    the spans of the ``false-alarm`` ones, which the next model is held quiet on (see
    :mod:`pm_pipeline.core.feedback.calibration`).

    See :mod:`pm_pipeline.core.model.exclusion` for why whole rows go, and how the hole
    they leave is a data gap to the fit.

    Raises
    ------
    PipelineError
        When the window had enough readings to train on and too few are left.
    """
    if readings.empty:
        return exclude_flagged(readings, pd.DataFrame(columns=["start_ts", "end_ts"]), margin_s)
    margin, times = pd.Timedelta(seconds=margin_s), readings[TIME_COLUMN]
    found = landed_events_with_models(
        engine, robot_id, times.iloc[0] - margin, times.iloc[-1] + margin
    )
    feedback = robot_feedback(engine, robot_id)
    events = spans_to_exclude(found, feedback.newest_labels, baseline)
    kept, exclusion = exclude_flagged(readings, events, margin_s)
    normal = labelled_normal_spans(feedback.newest_labels, times.iloc[0], times.iloc[-1])
    kept = with_labelled_normal(kept, normal)
    if len(kept) < MIN_TRAINING_ROWS <= len(readings):
        raise PipelineError(
            f"the training window of robot {robot_id} holds {len(readings)} readings and "
            f"{exclusion.readings} of them lie inside its stored events (widened by "
            f"PM_TRAINING_EXCLUDE_MARGIN_SECONDS={margin_s:g}), leaving {len(kept)}; need at "
            f"least {MIN_TRAINING_ROWS}. Widen the window or lower the margin, or label the "
            "events that were false alarms (`pm-pipeline events label ID false-alarm`)."
        )
    return kept, exclusion


def context_names(readings: pd.DataFrame, export_format: ExportFormat) -> dict[str, str]:
    """The export column of each context channel that carries readings in ``readings``
    (``context_1`` → ``Temperature_J0``), as the robot's export format names them; a slot
    with readings that the format no longer names keeps its canonical name."""
    carrying = [c for c in CONTEXT_COLUMNS if c in readings and readings[c].notna().any()]
    return {context: export_format.contexts.get(context, context) for context in carrying}
