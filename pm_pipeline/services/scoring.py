"""One landed export in, its readings stored and its events detected: streamed when it can be.

A file goes through Arrow's chunked reader once: each chunk is written for ingest and pushed
through the model's detector stream (every mode streams), so memory stays bounded whatever
the file's size. A file the stream cannot take as it is (an unusual spelling, readings out
of time order) is read whole by the careful parser instead, with the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, Table

from pm_pipeline.core.detection.base import EventStream
from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.registry import detect_events, stream_events
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.parsing.stream import DEFAULT_BLOCK_BYTES
from pm_pipeline.db.ingest import IngestResult
from pm_pipeline.services.ingest import ingest_export


@dataclass(frozen=True)
class ScoredFile:
    """What scoring one export did."""

    ingest: IngestResult
    events: pd.DataFrame
    notes: tuple[str, ...]
    streamed: bool
    """False when the file was read whole (see the module docstring for when)."""


def ingest_and_detect(
    engine: Engine,
    table: Table,
    robot_id: str,
    path: Path,
    content_sha256: str,
    model: TrainedModel,
    fmt: ExportFormat,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    progress: Callable[[int], None] | None = None,
) -> ScoredFile:
    """Store the export's new readings and detect its events with ``model``, through the one
    ingest path (:func:`pm_pipeline.services.ingest.ingest_export`): each chunk is pushed
    through the chunked detector inside the ingest transaction.

    ``progress``, if given, is told the number of readings streamed so far after each piece.

    Raises
    ------
    PipelineError
        When the file is not a readable export; the message names file, line and column.
        Nothing is stored then.
    """
    done = ingest_export(
        engine,
        table,
        robot_id,
        path,
        content_sha256,
        fmt,
        new_sink=lambda: _Counted(stream_events(model), progress),
        block_bytes=block_bytes,
    )
    if isinstance(done.sink, _Counted):
        events = events_in_order(done.sink.detector.finish())
    else:
        assert done.readings is not None  # read whole
        events = detect_events(model, done.readings)
    return ScoredFile(done.ingest, events, done.notes, done.streamed)


class _Counted:
    """A detector that also reports how many readings it has seen."""

    def __init__(self, detector: EventStream, progress: Callable[[int], None] | None) -> None:
        self.detector, self.progress, self.rows = detector, progress, 0

    def push(self, readings: pd.DataFrame) -> None:
        self.detector.push(readings)
        self.rows += len(readings)
        if self.progress is not None:
            self.progress(self.rows)
