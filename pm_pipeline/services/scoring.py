"""One landed export in, its readings stored and its events detected: streamed when it can be.

A file goes through Arrow's chunked reader once: each chunk is written for ingest and pushed
through the model's detector stream (every mode streams), so memory stays bounded whatever
the file's size. A file the stream cannot take as it is (an unusual spelling, readings out
of time order) is read whole by the careful parser instead, with the same result.

The detector continues the robot's stored readings (:mod:`pm_pipeline.services.continuation`):
it replays the stored tail before the file first, and the stored readings after it last, so
a live feed of small files, a rescored file and a file landed late all end with the events
of one pass over the whole period.

The pass ends inside the ingest's transaction, and the events are stored there too when the
caller says how (``store_events``): a file's readings and its events commit together or not
at all. So a file replaced under its name with other bytes leaves the old readings with the
old events, or the new with the new, whatever fails in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, Table

from pm_pipeline.core.detection.events import empty_events
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.parsing.opened import OpenedExport, source_path
from pm_pipeline.core.parsing.stream import DEFAULT_BLOCK_BYTES
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.event_lifecycle import ReconciledEvents
from pm_pipeline.db.ingest import FileHash, IngestResult
from pm_pipeline.services.continuation import ContinuingScorer, ScoredSpan
from pm_pipeline.services.ingest import IngestedExport, ingest_export


@dataclass(frozen=True)
class ScoredFile:
    """What scoring one export did."""

    ingest: IngestResult
    events: pd.DataFrame
    """The events that share a moment with the file's readings, with their ``status``."""
    notes: tuple[str, ...]
    """Warnings for the run log and the file's metadata: readings not stored, a model far
    from the file's time, events beyond what this pass could settle."""
    streamed: bool
    """False when the file was read whole (see the module docstring for when)."""
    span: ScoredSpan | None = None
    """The whole pass (None for a file without readings): what the events store replaces."""
    stored: ReconciledEvents | None = None
    """What storing the events with the readings did (None when the caller stores them)."""


StoreEvents = Callable[[Connection, ScoredFile], ReconciledEvents]
"""Stores a scored file's events on the connection of its readings' transaction."""


def ingest_and_detect(
    engine: Engine,
    table: Table,
    robot_id: str,
    path: Path | OpenedExport,
    content_sha256: FileHash,
    model: TrainedModel,
    fmt: ExportFormat,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    progress: Callable[[int], None] | None = None,
    max_model_age: timedelta | None = None,
    store_events: StoreEvents | None = None,
) -> ScoredFile:
    """Store the export's new readings and detect its events with ``model``, through the one
    ingest path (:func:`pm_pipeline.services.ingest.ingest_export`): each chunk is pushed
    through the chunked detector inside the ingest transaction, after the robot's stored
    tail, and the pass is finished in it.

    ``path`` may be the file opened once (its every read goes through that handle), and
    ``content_sha256`` what gives its hash once read (:meth:`OpenedExport.sha256`).
    ``progress``, if given, is told the number of readings streamed so far after each piece.
    ``max_model_age``, if given, is how long after the model's training window its readings
    may lie before a note says the model is stale for them. ``store_events``, if given,
    stores the events in the same transaction, before the readings commit (its result is
    the returned ``stored``); without it the caller stores them afterwards, apart.

    Raises
    ------
    PipelineError
        When the file is not a readable export; the message names file, line and column.
        Nothing is stored then.
    """
    name = source_path(path).name
    scored: list[ScoredFile] = []  # the pass of the attempt that commits

    def finish_pass(connection: Connection, done: IngestedExport) -> None:
        if isinstance(done.sink, ContinuingScorer):
            scorer = done.sink
        else:
            assert done.readings is not None  # read whole
            scorer = ContinuingScorer(connection, table, robot_id, model, progress)
            scorer.push(done.readings.sort_values(TIME_COLUMN, kind="stable", ignore_index=True))
        span = scorer.finish()
        notes = (
            *done.notes,
            *_span_notes(name, span),
            *_freshness(name, model, span, max_model_age),
        )
        events = empty_events() if span is None else _file_events(span)
        file = ScoredFile(done.ingest, events, notes, done.streamed, span)
        if store_events is not None:
            file = replace(file, stored=store_events(connection, file))
        scored.append(file)

    ingest_export(
        engine,
        table,
        robot_id,
        path,
        content_sha256,
        fmt,
        new_sink=lambda connection: ContinuingScorer(connection, table, robot_id, model, progress),
        block_bytes=block_bytes,
        before_commit=finish_pass,
    )
    return scored[-1]


def _file_events(span: ScoredSpan) -> pd.DataFrame:
    """The pass's events that share a moment with the file's own readings."""
    events = span.events
    inside = (events["start"] <= span.file_last) & (events["end"] >= span.first)
    return events[inside].reset_index(drop=True)


def _span_notes(name: str, span: ScoredSpan | None) -> list[str]:
    """What the run should say about readings scored beyond the file."""
    if span is None or not span.cut_short:
        return []
    return [
        f"{name}: an event is still open at {span.last.isoformat()}, where readings scored "
        "before this file go on; score the files after it again to carry the event on"
    ]


def _freshness(
    name: str, model: TrainedModel, span: ScoredSpan | None, max_age: timedelta | None
) -> list[str]:
    """A warning when the file's readings lie before the model's training window, or more
    than ``max_age`` after it."""
    if span is None:
        return []
    start, end = pd.Timestamp(model.window_start), pd.Timestamp(model.window_end)
    window = f"model {model.version} was trained on {start.isoformat()} to {end.isoformat()}"
    if span.first < start:
        return [
            f"{name}: readings from {span.first.isoformat()} are older than the model's "
            f"training window ({window}); its events may not mean what they would on newer "
            "data: score with a model trained on that period (pm-pipeline score --model-version)"
        ]
    if max_age is not None and span.file_last > end + max_age:
        days = max_age / timedelta(days=1)
        return [
            f"{name}: readings up to {span.file_last.isoformat()} lie more than {days:g} days "
            f"after the model's training window ({window}); retrain the robot's model on "
            "recent readings, or raise PM_MODEL_MAX_AGE_DAYS"
        ]
    return []
