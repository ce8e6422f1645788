"""One landed file scored, the whole use case: check it, store its readings and events, and
archive it, or set it aside when it cannot be scored.

:func:`score_landed_file` is what ``landed_files_job``'s op calls for each file; the op only
turns the plain result into Dagster events. The file's readings and its events are stored in
one transaction: a failure between them (the events' write, a lost connection) leaves what
was stored before, readings and events, as it was; a file replaced under its name never
leaves new readings with old events. The file is opened once: its header check, its stream
and its hash read one handle. The robot's fence (:mod:`pm_pipeline.db.fence`) is held from
ingest until the events are stored, so no retraining reads the robot's window and its events
with the file in between.

A file that cannot be scored as it is (gone, a header that does not read, a body that does
not parse) comes back as :class:`NotScored`, moved to ``quarantine/`` when the run files its
files away. A problem no retry fixes and that is not the file's fault (a bad setting, no
model, a full disk, ``archive/`` a symlink) raises :class:`ScoringStopped`; a lost database
raises :class:`~pm_pipeline.core.errors.DatabaseUnavailable`, worth trying again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, Table

from pm_pipeline.config.robots import Fleet
from pm_pipeline.config.settings import Settings
from pm_pipeline.core.errors import DatabaseUnavailable, PipelineError, StorageFull
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.parsing.careful import check_export_header
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.parsing.opened import OpenedExport
from pm_pipeline.db.event_lifecycle import ReconciledEvents
from pm_pipeline.db.events import file_and_open_events
from pm_pipeline.db.fence import robot_readings_fence
from pm_pipeline.db.ingest import IngestResult
from pm_pipeline.db.registry import active_model_version, load_model
from pm_pipeline.services.landing import (
    ChangedAfterScoring,
    GoneAfterScoring,
    archive_file,
    landed_file_path,
    quarantine_file,
)
from pm_pipeline.services.notifications import store_file_events
from pm_pipeline.services.scoring import ScoredFile, ingest_and_detect


class ScoringStopped(PipelineError):
    """A problem retrying would not fix, and not the file's fault: the file stays put."""


class _EventsNotStored(Exception):
    """Storing the events failed for a reason that is not the file's; carries the error."""

    def __init__(self, error: PipelineError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class RunModels:
    """Each robot's model for one run, loaded once: ``pinned`` (a version given for the
    run), else the robot's active one."""

    connect: Callable[[], Engine]
    """The readings database, opened on first use (a bad file is set aside without it)."""
    pinned: str | None = None
    _loaded: dict[str, tuple[str, TrainedModel]] = field(default_factory=dict)

    def of(self, robot_id: str) -> tuple[str, TrainedModel]:
        """``(version, model)`` to score ``robot_id``'s files with.

        Raises
        ------
        DatabaseUnavailable
            When the database cannot be reached (worth trying again).
        ScoringStopped
            When there is no such model (none trained yet, an unknown version), or the
            database's settings are wrong.
        """
        if robot_id not in self._loaded:
            try:
                engine = self.connect()
                version = self.pinned or active_model_version(engine, robot_id)
                self._loaded[robot_id] = (version, load_model(engine, version))
            except DatabaseUnavailable:
                raise
            except PipelineError as error:
                raise ScoringStopped(str(error)) from error
        return self._loaded[robot_id]


@dataclass(frozen=True)
class ScoringRun:
    """What every file of one run is scored with."""

    table: Table
    settings: Settings
    fleet: Fleet
    models: RunModels
    file_away: bool
    """Move scored files to ``archive/`` and bad ones to ``quarantine/`` (the sensor's runs);
    `pm-pipeline score` leaves your file where it is."""
    run_id: str | None = None

    @property
    def engine(self) -> Engine:
        return self.models.connect()


@dataclass(frozen=True)
class LandedFileResult:
    """A scored file: its readings and events stored, and where the file is now."""

    robot_id: str
    file_key: str
    path: Path
    """Where it was scored from."""
    landed_at: float
    """Its modification time (epoch seconds): the day it landed on."""
    sha256: str
    model_version: str
    ingest: IngestResult
    streamed: bool
    notes: tuple[str, ...]
    """Warnings of the export and its pass, as :class:`~pm_pipeline.services.scoring.ScoredFile`
    has them."""
    stored: ReconciledEvents
    """What storing the events did: their count, notifications queued, changes."""
    events: pd.DataFrame
    """The events stored under the file, as they are now."""
    robot_open_events: pd.DataFrame
    """The robot's events still open after this file."""
    archived: Path
    """Where the file is now."""
    archive_warning: str | None = None
    """Why the file was not archived though it scored (it changed or vanished meanwhile)."""


@dataclass(frozen=True)
class NotScored:
    """A file that cannot be scored as it is; nothing of it is stored."""

    robot_id: str
    file_key: str
    landed_at: float
    description: str
    """The reason and where the file is now."""
    moved: Path
    """Where the file is now: in quarantine/ when the run files its files away."""


def score_landed_file(
    run: ScoringRun,
    robot_id: str,
    file_key: str,
    given_path: str,
    progress: Callable[[int], None] | None = None,
) -> LandedFileResult | NotScored:
    """Score one landed file of ``robot_id`` (``file_key``, the events' source, lying at
    ``given_path`` or archived beside it) and file it away.

    ``progress`` is told the readings streamed so far after each piece.

    Raises
    ------
    ScoringStopped
        A bad setting or file key, no model, a full disk, ``archive/`` a symlink.
    DatabaseUnavailable
        The database refused or dropped the connection; nothing of the file's events is kept.
    """
    try:
        path = landed_file_path(file_key, given_path, Path(given_path).parent)
        fmt = run.fleet.export_format_for(robot_id, run.settings.export_format)
    except PipelineError as error:
        raise ScoringStopped(str(error)) from error
    landed_at = path.stat().st_mtime if path.exists() else 0.0
    missing = f"{path}: no such file (already archived or quarantined?)"
    if not path.is_file():
        return NotScored(robot_id, file_key, landed_at, missing, path)
    try:
        opened = OpenedExport(path)
    except FileNotFoundError:  # moved away since the look above
        return NotScored(robot_id, file_key, landed_at, missing, path)
    # Opened once: the header check, the stream and a whole-file read all read this handle,
    # and the hash is of the very bytes scored (archiving checks the file still holds them).
    with opened:
        outcome = _stored(run, robot_id, file_key, opened, fmt, progress)
        sha256 = opened.sha256()
    if isinstance(outcome, PipelineError):
        return _set_aside(run, robot_id, file_key, landed_at, path, outcome)
    version, scored = outcome
    stored = scored.stored or ReconciledEvents(0, 0)
    archived, archive_warning = _archived(path, sha256, run.file_away)
    of_file, still_open = file_and_open_events(run.engine, robot_id, file_key)
    return LandedFileResult(
        robot_id=robot_id,
        file_key=file_key,
        path=path,
        landed_at=landed_at,
        sha256=sha256,
        model_version=version,
        ingest=scored.ingest,
        streamed=scored.streamed,
        notes=scored.notes,
        stored=stored,
        events=of_file,
        robot_open_events=still_open,
        archived=archived,
        archive_warning=archive_warning,
    )


def _stored(
    run: ScoringRun,
    robot_id: str,
    file_key: str,
    opened: OpenedExport,
    fmt: ExportFormat,
    progress: Callable[[int], None] | None,
) -> tuple[str, ScoredFile] | PipelineError:
    """The file's readings and events stored, in one transaction, under the robot's fence:
    the model version and what scoring did, or why the file cannot be scored as it is."""
    try:
        check_export_header(opened, fmt)
    except PipelineError as error:
        return error
    version, model = run.models.of(robot_id)

    def store_events(connection: Connection, scored: ScoredFile) -> ReconciledEvents:
        # The events and their notifications (when a channel is set), in the readings'
        # transaction.
        try:
            return store_file_events(
                connection, robot_id, file_key, scored, version, run.run_id, run.settings
            )
        except (DatabaseUnavailable, StorageFull):
            raise
        except PipelineError as error:  # not the file's fault: not a reason to set it aside
            raise _EventsNotStored(error) from error

    with robot_readings_fence(run.engine, robot_id):
        try:
            return version, ingest_and_detect(
                run.engine,
                run.table,
                robot_id,
                opened,
                opened.sha256,
                model,
                fmt,
                progress=progress,
                max_model_age=run.settings.model_max_age,
                store_events=store_events,
            )
        except DatabaseUnavailable:
            raise
        except StorageFull as full:
            raise ScoringStopped(str(full)) from full
        except _EventsNotStored as failed:
            raise failed.error from failed.error.__cause__
        except PipelineError as error:
            return error


def _set_aside(
    run: ScoringRun,
    robot_id: str,
    file_key: str,
    landed_at: float,
    path: Path,
    error: PipelineError,
) -> NotScored:
    """A bad file, moved to quarantine/ with its reason when the run files its files away."""
    moved = quarantine_file(path, str(error)) if run.file_away else path
    return NotScored(robot_id, file_key, landed_at, f"{error} (file now at {moved})", moved)


def _archived(path: Path, sha256: str, file_away: bool) -> tuple[Path, str | None]:
    """Where the scored file is now, and why it is not archived when it changed or vanished
    meanwhile (its readings and events are stored either way)."""
    if not file_away:
        return path, None
    try:
        return archive_file(path, sha256), None
    except ChangedAfterScoring as changed:
        return changed.path, str(changed)
    except GoneAfterScoring as gone:
        return path, str(gone)
    except PipelineError as error:  # archive/ is a symlink: the file stays put
        raise ScoringStopped(str(error)) from error
