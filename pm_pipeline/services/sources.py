"""Copying the user's own readings into the store by a per-robot high-water mark.

Training reads only the store. Before it does, the rows of the user's table (the source)
that the store has not seen are copied in, through the one ingest rule (a reading already
stored wins). Each copy is recorded as a row of ``pm_ingested_files`` named
``source:<table>``; the **mark** is the newest reading any such row recorded for the robot,
so the nightly run reads only the source rows after it. The first copy reads only the
training window (the source's newest reading minus ``PM_TRAINING_DAYS``, or the run's own
window); a later run whose window reaches further back than anything copied also reads the
missing older stretch, once. The source is only ever read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, Table
from sqlalchemy.engine import make_url

from pm_pipeline.config.settings import Settings
from pm_pipeline.core.feedback.labels import Baseline
from pm_pipeline.core.model.exclusion import Exclusion
from pm_pipeline.core.model.windows import parse_utc
from pm_pipeline.core.schema import AXES
from pm_pipeline.db.engine import describe_url, mask_url, normalise_url, open_engine
from pm_pipeline.db.fence import robot_readings_fence
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.readings import ingested_span
from pm_pipeline.db.sources import (
    LongSource,
    Source,
    SourceError,
    WideSource,
    newest_source_time,
    read_source,
    table_identity,
)
from pm_pipeline.services.feedback import robot_feedback
from pm_pipeline.services.training import (
    TrainingWindow,
    read_training_window,
    without_flagged_readings,
)

SOURCE_PREFIX = "source:"
_JUST_BEFORE = pd.Timedelta(microseconds=1)  # Postgres keeps microseconds


@dataclass(frozen=True)
class SourceSync:
    """What one copy from the source did, for the run's metadata."""

    source: str
    """The source's database (password masked) and table."""
    rows_read: int
    rows_added: int
    """Rows new to the store (a reading already stored wins)."""
    mark: pd.Timestamp | None
    """The newest source reading copied so far; the next copy reads only after it."""


def configured_source(settings: Settings) -> Source | None:
    """The source the settings describe, or None with ``PM_SOURCE_LAYOUT=none``."""
    if settings.source_layout == "none" or settings.source_table is None:
        return None
    if settings.source_layout == "wide":
        columns = settings.source_axis_columns or {
            axis: axis for axis in AXES[: settings.axis_count]
        }
        return WideSource(
            settings.source_table,
            settings.source_time_column,
            dict(columns),
            settings.source_robot_column,
        )
    return LongSource(
        settings.source_table,
        axes_table=str(settings.source_axes_table),
        time_column=settings.source_time_column,
        axis_column=settings.source_axis_column,
        current_column=settings.source_current_column,
        axes_id_column=settings.source_axes_id_column,
        axes_name_column=settings.source_axes_name_column,
        robot_column=settings.source_robot_column,
    )


def source_url(settings: Settings, store_url: str) -> str:
    """``PM_SOURCE_URL``, or the store's own URL when it is unset."""
    if not settings.source_url:
        return store_url
    return normalise_url(settings.source_url, "PM_SOURCE_URL")


def sync_configured_source(
    settings: Settings,
    store_engine: Engine,
    store_url: str,
    table: Table,
    robot_id: str,
    window: TrainingWindow,
) -> SourceSync | None:
    """Copy what is new in the configured source into ``table``; None when there is none.

    Raises
    ------
    SourceError
        When the source cannot be read as configured, or is the store's own table.
    """
    source = configured_source(settings)
    if source is None:
        return None
    url = source_url(settings, store_url)
    engine = open_engine(url, setting="PM_SOURCE_URL")
    try:
        _check_apart((store_engine, store_url, table), (engine, url, source))
        label = f"{mask_url(url)} table {source.table}"
        days = window.last_days if window.last_days is not None else settings.training_days
        since = window_start(engine, source, robot_id, window.start, days)
        return sync_source(engine, source, store_engine, table, robot_id, since, label)
    finally:
        engine.dispose()


def window_start(
    engine: Engine, source: Source, robot_id: str, start: str | None, days: float | None
) -> pd.Timestamp | None:
    """The oldest source reading a run's window wants: ``start``, or ``days`` back from the
    source's newest reading of the robot; None for all of them."""
    if start is not None:
        return parse_utc(start, "start")
    if days is None:
        return None
    newest = newest_source_time(engine, source, robot_id)
    return None if newest is None else newest - pd.Timedelta(days=days)


def sync_source(
    source_engine: Engine,
    source: Source,
    store_engine: Engine,
    table: Table,
    robot_id: str,
    since: pd.Timestamp | None = None,
    label: str | None = None,
) -> SourceSync:
    """Copy the robot's source readings that the store has not seen into ``table``.

    The first copy reads from ``since`` (None: everything); later ones read only after the
    mark, plus, when ``since`` is older than the oldest reading copied, that older stretch.
    """
    name = f"{SOURCE_PREFIX}{source.table}"
    span = ingested_span(store_engine, robot_id, name)
    after = None if since is None else since - _JUST_BEFORE
    if span is None:
        parts = [read_source(source_engine, source, robot_id, after=after)]
    else:
        oldest, mark = span
        parts = [read_source(source_engine, source, robot_id, after=mark)]
        if since is not None and since < oldest:
            older = read_source(source_engine, source, robot_id, after, oldest - _JUST_BEFORE)
            parts.insert(0, older)
    rows = pd.concat([part for part in parts if not part.empty] or parts, ignore_index=True)
    label = label or source.table
    if rows.empty:
        return SourceSync(label, 0, 0, None if span is None else span[1])
    result = ingest_readings(store_engine, table, rows, robot_id, name, _content_sha256(rows))
    newest = result.last_time if span is None else max(span[1], result.last_time or span[1])
    return SourceSync(label, len(rows), result.rows_added, newest)


def _content_sha256(rows: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(rows, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _check_apart(store: tuple[Engine, str, Table], source: tuple[Engine, str, Source]) -> None:
    """Refuse a source that is the store's own readings table: copying would write to it."""
    (store_engine, store_url, table), (source_engine, url, configured) = store, source
    ours, theirs = make_url(store_url), make_url(url)
    place = ("drivername", "host", "port", "database")
    if any(getattr(ours, part) != getattr(theirs, part) for part in place):
        return
    identity = table_identity(store_engine, table.fullname)
    if identity is not None and identity == table_identity(source_engine, configured.table):
        raise SourceError(
            f"PM_SOURCE_TABLE {configured.table!r} is the pipeline's own readings table "
            f"{table.fullname!r} in {describe_url(store_url)}; keep the pipeline's tables "
            "apart: point PM_DATABASE_URL at another database, or at another schema with "
            "?options=-csearch_path%3Dpm_pipeline."
        )


@dataclass(frozen=True)
class TrainingReadings:
    """A robot's training window as the next model sees it, and how it was gathered."""

    readings: pd.DataFrame
    """The window's readings, less those inside stored events (see ``exclusion``)."""
    synced: SourceSync | None
    """The copy from the configured source; None when no source is configured."""
    exclusion: Exclusion
    """The readings left out because they lay inside the robot's stored events."""
    baseline: Baseline | None = None
    """Where the window was cut: the robot's newest maintenance or new-normal label."""


def training_readings(
    settings: Settings,
    store_engine: Engine,
    store_url: str,
    table: Table,
    robot_id: str,
    window: TrainingWindow,
) -> TrainingReadings:
    """The robot's training window from our store, after copying in what is new in the
    configured source, without the readings inside the robot's stored events of landed
    files (widened by ``PM_TRAINING_EXCLUDE_MARGIN_SECONDS``), and none before the robot's
    baseline (see :mod:`pm_pipeline.core.feedback.labels`)."""
    synced = sync_configured_source(settings, store_engine, store_url, table, robot_id, window)
    # The window and its events are read in separate statements; a file committed between
    # them would show readings without the events that flag them (see pm_pipeline.db.fence).
    with robot_readings_fence(store_engine, robot_id, shared=True):
        # A maintenance record or a new-normal label starts the robot's normal anew.
        baseline = robot_feedback(store_engine, robot_id).baseline
        whole = read_training_window(store_engine, table, robot_id, window, baseline)
        kept, exclusion = without_flagged_readings(
            store_engine, robot_id, whole, settings.training_exclude_margin_seconds, baseline
        )
    return TrainingReadings(kept, synced, exclusion, baseline)
