"""One landed export in, its readings stored and its events detected: streamed when it can be.

A file goes through Arrow's chunked reader once: each chunk is written for ingest and pushed
through the model's detector stream (every mode streams), so memory stays bounded whatever
the file's size. A file the stream cannot take as it is (an unusual spelling, readings out
of time order) is read whole by the careful parser instead, with the same result.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, Table

from pm_pipeline.core.detection.base import EventStream, ReadingsOutOfOrder
from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.registry import detect_events, stream_events
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.parsing.careful import parse_export
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.parsing.stream import (
    DEFAULT_BLOCK_BYTES,
    NeedsCarefulRead,
    open_export_stream,
)
from pm_pipeline.db.readings import (
    AppendCollided,
    IngestResult,
    ingest_reading_chunks,
    ingest_readings,
)


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
) -> ScoredFile:
    """Store the export's new readings and detect its events with ``model``.

    Raises
    ------
    PipelineError
        When the file is not a readable export; the message names file, line and column.
        Nothing is stored then.
    """
    # A new export usually starts after the newest stored reading and is appended
    # directly; if it turns out to overlap, it is streamed again through staging.
    for append_directly in (True, False):
        stream = open_export_stream(path, fmt, block_bytes)
        detector = stream_events(model)
        try:
            chunks = _pushed(stream.chunks(), detector)
            ingest = ingest_reading_chunks(
                engine, table, chunks, robot_id, path.name, content_sha256, append_directly
            )
        except AppendCollided:
            continue
        except (NeedsCarefulRead, ReadingsOutOfOrder):
            break  # rolled back: nothing was stored; read it whole below
        events = events_in_order(detector.finish())
        return ScoredFile(ingest, events, stream.notes(), True)
    parsed = parse_export(path, fmt)
    readings = parsed.readings
    ingest = ingest_readings(engine, table, readings, robot_id, path.name, content_sha256)
    return ScoredFile(ingest, detect_events(model, readings), parsed.notes, False)


def _pushed(chunks: Iterable[pd.DataFrame], detector: EventStream) -> Iterator[pd.DataFrame]:
    for chunk in chunks:
        detector.push(chunk)
        yield chunk
