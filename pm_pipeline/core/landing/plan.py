"""Which landed files are ready, which wait: the drop folder's decisions, without touching it.

A file is ready when two looks of the sensor, a tick apart, saw the same size and
modification time, it has not been modified for the settle time, and its last line ends
with a newline (a controller or a copy still writing it fails one or the other). A file
whose last line has no newline but that has not changed for ``CUT_SHORT_PATIENCE`` settle
times is judged as it is (some exporters omit the final newline); gzip and binary files have
no lines and are judged once settled. Scored files move to ``archive/`` under a name that
carries their content hash, so a later file with the same name never overwrites an earlier
one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pm_pipeline.core.schema import DEFAULT_ROBOT_ID

ARCHIVE_FOLDER = "archive"
QUARANTINE_FOLDER = "quarantine"
ARCHIVE_HASH_DIGITS = 12
CUT_SHORT_PATIENCE = 10
"""Settle times a file whose last line has no newline waits before it is judged as it is."""
MAX_LOOKS_REMEMBERED = 1000
"""Files whose last look the sensor keeps in its cursor; any beyond wait one tick more."""
ARCHIVE_WATCH_MIN_S = 60.0
"""A scored file's archived copy is watched for bytes written after scoring at least this
long, and for ``CUT_SHORT_PATIENCE`` settle times when that is longer."""

Look = tuple[int, float]
"""What one look saw of a file: its size in bytes and its modification time."""


def file_key_for(path: str | Path) -> str:
    """A landed file's key: its name, the source of its events (a changed file keeps it)."""
    return Path(path).name


@dataclass(frozen=True)
class LandedFile:
    """What the sensor saw of one ``*.csv`` in the drop folder."""

    path: Path
    size: int
    modified_at: float
    ends_with_newline: bool
    robot_id: str = DEFAULT_ROBOT_ID
    """The robot whose folder it lies in (the drop folder's top level is the default robot)."""


@dataclass(frozen=True)
class LandingDecision:
    """What to do with one landed file this tick: ``score``, ``wait`` or ``quarantine``."""

    path: Path
    action: str
    reason: str
    sha256: str = ""
    robot_id: str = DEFAULT_ROBOT_ID

    @property
    def file_key(self) -> str:
        """The file's name: the source of its events."""
        return file_key_for(self.path)

    @property
    def run_key(self) -> str:
        """Unique per robot, file name and content, so the same bytes are never scored twice."""
        robot = "" if self.robot_id == DEFAULT_ROBOT_ID else f"{self.robot_id}/"
        return f"{robot}{self.file_key}@{self.sha256[:16]}"

    @property
    def content_tag(self) -> tuple[str, str]:
        """A run tag naming these bytes of this robot's file, which every run scoring them
        carries, whether it scores this file alone or several together."""
        return f"pm/landed/{self.sha256[:16]}", f"{self.robot_id}/{self.file_key}"


@dataclass(frozen=True)
class EarlierRun:
    """The newest run already asked for a landed file's bytes, as the sensor sees it."""

    run_id: str
    status: str
    """Dagster's run status name: ``SUCCESS``, ``FAILURE``, ``STARTED``, ``QUEUED``, …"""
    will_retry: bool
    """Dagster decided to retry it (a crash, within ``run_retries.max_retries``)."""
    retry_launched: bool
    ended_s_ago: float


def after_earlier_run(run: EarlierRun, grace_s: float) -> str:
    """What to do with a landed file whose bytes already had a run.

    Returns
    -------
    str
        ``archive`` when it was scored (the file landed again); ``wait`` while a run goes, or
        while Dagster's automatic retry is due; ``rerun`` when the run crashed, Dagster said it
        would retry it, and no retry started within ``grace_s`` (the retry daemon can miss a
        failure written at the moment it reads, and then never looks again); ``failed`` when
        it failed for good.
    """
    if run.status == "SUCCESS":
        return "archive"
    if run.status not in ("FAILURE", "CANCELED"):
        return "wait"
    if not run.will_retry:
        return "failed"
    if run.retry_launched or run.ended_s_ago < grace_s:
        return "wait"
    return "rerun"


def not_in_flight(files: list[LandedFile], in_flight: set[Path]) -> list[LandedFile]:
    """The files no run in flight has taken.

    A run in flight archives its files when it ends, so until then they are left alone: a
    tick during a fleet's long run then costs no hash, header read or run lookup per file,
    and a file rewritten meanwhile is judged once the run has ended.
    """
    return [landed for landed in files if landed.path not in in_flight]


def looks_of(files: list[LandedFile]) -> dict[str, Look]:
    """This tick's look at the files, for the next tick to compare with (the oldest
    ``MAX_LOOKS_REMEMBERED`` files: those the next ticks take first)."""
    return {
        str(landed.path): (landed.size, landed.modified_at)
        for landed in files[:MAX_LOOKS_REMEMBERED]
    }


def looks_in_cursor(cursor: str | None) -> dict[str, Look]:
    """The looks a sensor cursor holds (``{"looks": {path: [size, mtime]}}``); none from a
    cursor of an older version or none at all, so every file then waits one tick."""
    try:
        looks = json.loads(cursor or "{}").get("looks", {})
        return {str(path): (int(size), float(mtime)) for path, (size, mtime) in looks.items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def unchanged_since_last_look(landed: LandedFile, last_looks: Mapping[str, Look]) -> bool:
    """True when the previous look saw this file with the same size and modification time.

    The modification time alone is weak evidence: a writer that pauses longer than the
    settle time between batches, or a copy that keeps the source's times, looks settled.
    """
    last = last_looks.get(str(landed.path))
    return last is not None and tuple(last) == (landed.size, landed.modified_at)


def archive_watch_seconds(settle_s: float) -> float:
    """How long after its run ended a scored file's archived copy is watched for bytes
    written into it after scoring (a writer still holding the file open)."""
    return max(ARCHIVE_WATCH_MIN_S, settle_s * CUT_SHORT_PATIENCE)


def grown_after_scoring(copy_modified_at: float, run_started_at: float) -> bool:
    """True when an archived copy was written after its run began: a move keeps the
    modification time of the bytes the sensor judged, so only a later write is newer."""
    return copy_modified_at > run_started_at


def plan_landed_files(
    files: list[LandedFile],
    now: float,
    settle_s: float,
    max_files: int,
    judge: Callable[[LandedFile], LandingDecision],
    last_looks: Mapping[str, Look] | None = None,
) -> list[LandingDecision]:
    """Decide, for at most ``max_files`` files, whether to score, wait or quarantine.

    Parameters
    ----------
    files
        What the sensor saw in the drop folder.
    now
        Current time (epoch seconds).
    settle_s
        A file modified more recently than this is still being written.
    max_files
        Cap on files taken per tick; the rest wait for the next tick.
    judge
        Decides ``score`` or ``quarantine`` for a settled file (it reads the header).
    last_looks
        What the previous tick saw (:func:`looks_of`); a file it did not see the same waits.
        None asks for no second look (a caller that keeps no looks).

    Returns
    -------
    list of LandingDecision
        ``wait`` decisions for files in progress, then up to ``max_files`` others.
    """
    decisions: list[LandingDecision] = []
    taken = 0
    for landed in files:
        if now - landed.modified_at < settle_s:
            decisions.append(LandingDecision(landed.path, "wait", "still being written"))
        elif last_looks is not None and not unchanged_since_last_look(landed, last_looks):
            decisions.append(LandingDecision(landed.path, "wait", "changed since the last look"))
        elif (
            landed.size
            and not landed.ends_with_newline
            and now - landed.modified_at < settle_s * CUT_SHORT_PATIENCE
        ):
            decisions.append(LandingDecision(landed.path, "wait", "last line is cut short"))
        elif taken < max_files:
            taken += 1
            decision = judge(landed)
            decisions.append(replace(decision, robot_id=landed.robot_id))
    return decisions


def archived_name(path: Path, sha256: str) -> str:
    """``<stem>.<first 12 hex digits of the content hash><suffix>``."""
    return f"{path.stem}.{sha256[:ARCHIVE_HASH_DIGITS]}{path.suffix}"
