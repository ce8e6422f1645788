"""The drop folder on disk: what lies in it, and where finished files go.

A file is ready when it has not been modified for the settle time and its last line ends
with a newline (a controller or a copy still writing it fails one or the other). A file
whose last line has no newline but that has not changed for ``CUT_SHORT_PATIENCE`` settle
times is judged as it is (some exporters omit the final newline); gzip and binary files have
no lines and are judged once settled. Ready files
with a readable header are scored; files whose header cannot be read are quarantined with a
short reason beside them. Scored files move to ``archive/`` under a name that carries their
content hash, so a later file with the same name never overwrites an earlier one.

Every move is one atomic rename, and repeating one is harmless: a run that dies after
archiving, or a second run of the same file, finds the file already archived and scores the
archived copy instead of failing on a missing file.

A file whose bytes changed after they were judged (a writer still appending) is never
archived under the hash of bytes it no longer holds: it goes back to the drop folder, to be
scored again whole once it stops changing. ``archive/`` and ``quarantine/`` must be real
folders inside the drop folder: a symlink there would carry files out of it, so it is refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pm_pipeline.config.robots import Fleet, RobotsFileError
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.landing.plan import (
    ARCHIVE_FOLDER,
    ARCHIVE_HASH_DIGITS,
    QUARANTINE_FOLDER,
    LandedFile,
    LandingDecision,
    archived_name,
    grown_after_scoring,
)
from pm_pipeline.core.parsing.careful import GZIP_MAGIC, check_export_header
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.schema import DEFAULT_ROBOT_ID, is_synthetic_source
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.services.drop_folders import finished_folder

PARTITION_KEY_MARKS = ("|", ",")
"""Dagster joins partition dimensions with ``|`` and lists keys with ``,``."""
REASON_SUFFIX = ".reason.txt"
_TEXT_SNIFF_BYTES = 4096


def landed_file_path(partition_key: str, explicit: str | None, folder: Path) -> Path:
    """The file behind a partition: the configured path, else the key inside ``folder`` (the
    drop folder, ``PM_DROP_DIR``).

    When the file is gone but ``archive/`` beside it holds copies of it, the newest copy is
    returned: a run of a file another run has already scored and archived (a re-execution
    from the UI, an automatic retry of a run that died after archiving) rescores those bytes.

    Raises
    ------
    PipelineError
        When a partition key would lead outside the drop folder (``..``, a separator, or a
        symlink pointing elsewhere), or names the synthetic verification set's events.
    """
    if is_synthetic_source(partition_key):
        raise PipelineError(
            f"file name {partition_key!r} is reserved for the synthetic verification set's "
            "events; rename the file and drop it again."
        )
    if explicit:
        return _or_archived_copy(Path(explicit))
    folder = folder.resolve()
    path = folder / partition_key
    if Path(partition_key).name != partition_key or partition_key in ("", ".", ".."):
        raise PipelineError(f"partition key {partition_key!r} is not a plain file name.")
    if path.resolve().parent != folder:
        raise PipelineError(f"{path} leads outside the drop folder {folder}; not scoring it.")
    return _or_archived_copy(path)


class GoneAfterScoring(PipelineError):
    """A scored file vanished before it could be archived (deleted or moved by someone else):
    its readings and events are stored, so this is worth a warning, not a failed run."""


class ChangedAfterScoring(PipelineError):
    """A file's bytes changed after the sensor judged them; it is back in the drop folder (or
    in quarantine) at :attr:`path`, to be scored again whole."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


def robot_drop_folder(drop_dir: Path, robot_id: str) -> Path:
    """Where ``robot_id``'s exports land: ``<drop>/<robot_id>/``, and the drop folder itself for
    the default robot (a deployment of one robot keeps its files at the top, as it always did)."""
    return drop_dir if robot_id == DEFAULT_ROBOT_ID else drop_dir / robot_id


def list_landed_files(folder: Path) -> list[LandedFile]:
    """The ``*.csv`` files at the top of the drop folder (the default robot's) and in each
    robot's folder inside it, oldest first; symlinks, ``archive/`` and ``quarantine/`` are
    skipped, and so are hidden folders (a copy tool's temporary ones)."""
    found = _csv_files(folder, DEFAULT_ROBOT_ID)
    for sub in sorted(folder.iterdir()) if folder.is_dir() else []:
        if sub.name in (ARCHIVE_FOLDER, QUARANTINE_FOLDER) or sub.name.startswith("."):
            continue
        if sub.is_dir() and not sub.is_symlink():
            found += _csv_files(sub, sub.name)
    return sorted(found, key=lambda landed: (landed.modified_at, landed.path.name))


def _csv_files(folder: Path, robot_id: str) -> list[LandedFile]:
    found = []
    for path in sorted(folder.glob("*.csv")):
        if path.is_symlink() or not path.is_file():
            continue
        stat = path.stat()
        found.append(
            LandedFile(path, stat.st_size, stat.st_mtime, _ends_with_newline(path), robot_id)
        )
    return found


def judge_landed_file(landed: LandedFile, fmt: ExportFormat) -> LandingDecision:
    """``score`` a settled file whose header reads, ``quarantine`` one whose header does not.

    ``fmt`` comes from settings already validated, so a bad setting fails the tick before any
    file is judged and never quarantines one.
    """
    try:
        check_export_header(landed.path, fmt)
    except PipelineError as error:
        if not landed.path.exists():  # a run archived it meanwhile; the next tick sees where
            return LandingDecision(landed.path, "wait", "moved away while being judged")
        return LandingDecision(landed.path, "quarantine", str(error))
    return LandingDecision(landed.path, "score", "ready", file_sha256(landed.path))


def judge_fleet_file(landed: LandedFile, fleet: Fleet, default: ExportFormat) -> LandingDecision:
    """:func:`judge_landed_file` with the dialect of the robot whose folder the file lies in;
    a file of a robot the fleet does not serve, or whose name cannot be a partition key, is
    quarantined with the reason."""
    try:
        fmt = fleet.export_format_for(landed.robot_id, default)
    except RobotsFileError as error:
        return LandingDecision(landed.path, "quarantine", str(error), robot_id=landed.robot_id)
    if any(mark in landed.path.name for mark in PARTITION_KEY_MARKS):
        return LandingDecision(
            landed.path,
            "quarantine",
            f"{landed.path.name}: a file name with {' or '.join(PARTITION_KEY_MARKS)} cannot "
            "name a partition; rename the file and drop it again.",
            robot_id=landed.robot_id,
        )
    return judge_landed_file(landed, fmt)


def quarantine_file(path: Path, reason: str, landed_in: Path | None = None) -> Path:
    """Move a bad file to ``quarantine/`` with a ``.reason.txt`` beside it; return its new path.

    ``quarantine/`` is the one of the folder the file landed in: ``landed_in``, else the
    file's own folder.

    Raises
    ------
    PipelineError
        When the file is gone (another run moved it first).
    """
    folder = landed_in or path.parent
    target = _free_name(finished_folder(folder, QUARANTINE_FOLDER), path.name)
    try:
        moved = _move_into(path, target.parent, target.name)
    except FileNotFoundError:
        raise PipelineError(
            f"{path} is gone: another run moved it while this one read it; look in "
            f"{folder / QUARANTINE_FOLDER} and {folder / ARCHIVE_FOLDER}."
        ) from None
    # The file moves first, so a crash never leaves a reason without its file; the reason
    # is written aside and renamed, so it is never half there.
    reason_path = moved.with_name(moved.name + REASON_SUFFIX)
    partial = reason_path.with_name(reason_path.name + ".part")
    partial.write_text(reason.strip() + "\n")
    os.replace(partial, reason_path)
    return moved


def archive_file(path: Path, sha256: str) -> Path:
    """Move a scored file to ``archive/<stem>.<hash>.csv``; return its new path.

    Safe to repeat: when ``path`` is already that archived copy, or is gone because another
    run of the same bytes archived it first, the archived copy is returned.

    Raises
    ------
    ChangedAfterScoring
        When the moved bytes are not the ones scored (a writer appended meanwhile): the file
        is put back under its name to be scored again whole (see :func:`reland_grown_copy`).
    GoneAfterScoring
        When the file is gone and no archived copy holds these bytes.
    PipelineError
        When ``archive/`` is a symlink.
    """
    in_archive = path.parent.name == ARCHIVE_FOLDER
    if in_archive and path.stem.endswith(f".{sha256[:ARCHIVE_HASH_DIGITS]}"):
        return path
    target = finished_folder(path.parent, ARCHIVE_FOLDER) / archived_name(path, sha256)
    try:
        moved = _move_into(path, target.parent, target.name)
    except FileNotFoundError:
        if target.is_file() and file_sha256(target) == sha256:
            return target
        raise GoneAfterScoring(
            f"{path} is gone and {target.parent} holds no copy of it with content hash "
            f"{sha256[:ARCHIVE_HASH_DIGITS]}; it was moved away while being scored. Its "
            "readings and events are stored; drop it again only to rescore it."
        ) from None
    # Hashed after the move: a write that lands before it is caught here, one after it by
    # the sensor's watch of recent archives (reland_if_grown).
    if file_sha256(moved) != sha256:
        back = reland_grown_copy(moved, path)
        raise ChangedAfterScoring(
            f"{path.name} changed after it was judged ready (still being written?); not "
            f"archived: it is at {back}, to be scored again whole.",
            back,
        )
    return moved


def reland_grown_copy(copy: Path, original: Path) -> Path:
    """Put a copy whose bytes grew after scoring back where it landed, so the sensor scores
    it again whole (the readings already stored stay once); into quarantine with the reason
    when a newer file of that name has landed meanwhile. Returns where it is now."""
    if not original.exists():
        os.replace(copy, original)
        return original
    return quarantine_file(
        copy,
        f"{original.name} was written to after it was scored, and a newer file of that name "
        "has landed since; its readings up to the scored bytes are stored. Rename this file "
        "and drop it again to store and score the rest.",
        landed_in=original.parent,
    )


def reland_if_grown(copy: Path, original: Path, run_started_at: float) -> Path | None:
    """Where the archived ``copy`` of ``original`` is now, when it was written to after the
    run that scored it began; None when it was not."""
    try:
        modified_at = copy.stat().st_mtime
    except FileNotFoundError:
        return None
    if not grown_after_scoring(modified_at, run_started_at):
        return None
    return reland_grown_copy(copy, original)


def archived_copies(path: Path) -> list[Path]:
    """Copies of a landed file in ``archive/`` beside it, oldest landing first.

    A rename keeps the modification time, so the last copy holds the newest bytes.
    """
    folder = path.parent / ARCHIVE_FOLDER
    if not folder.is_dir():
        return []
    pattern = re.compile(
        rf"{re.escape(path.stem)}\.[0-9a-f]{{{ARCHIVE_HASH_DIGITS}}}{re.escape(path.suffix)}"
    )
    copies = [c for c in folder.iterdir() if pattern.fullmatch(c.name) and c.is_file()]
    return sorted(copies, key=lambda copy: (copy.stat().st_mtime, copy.name))


def _or_archived_copy(path: Path) -> Path:
    if path.exists():
        return path
    copies = archived_copies(path)
    return copies[-1] if copies else path


def _move_into(path: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    # os.replace is atomic within one file system, so a crash leaves the file in one place.
    os.replace(path, target)
    return target


def _free_name(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    candidate, number = folder / name, 1
    while candidate.exists():
        candidate = folder / f"{Path(name).stem}.{number}{Path(name).suffix}"
        number += 1
    return candidate


def _ends_with_newline(path: Path) -> bool:
    """True when the last byte is a newline, and for a file that is not text (gzip or other
    binary data): it has no lines to cut short."""
    with path.open("rb") as handle:
        start = handle.read(_TEXT_SNIFF_BYTES)
        if not start:
            return False
        if start.startswith(GZIP_MAGIC) or b"\x00" in start:
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
