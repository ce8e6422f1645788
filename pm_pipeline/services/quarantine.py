"""Quarantined files in sight: what lies in each ``quarantine/`` folder of the drop folder,
why, and putting one back for scoring once it is fixed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.landing.plan import ARCHIVE_FOLDER, QUARANTINE_FOLDER
from pm_pipeline.core.schema import DEFAULT_ROBOT_ID
from pm_pipeline.services.landing import REASON_SUFFIX, robot_drop_folder


@dataclass(frozen=True)
class QuarantinedFile:
    """One file in quarantine."""

    name: str
    robot_id: str
    reason: str
    quarantined_at: pd.Timestamp
    path: Path


def list_quarantined(drop_dir: Path) -> list[QuarantinedFile]:
    """Every quarantined file of every robot, newest first.

    The default robot's lie in ``<drop>/quarantine/``, each other robot's in
    ``<drop>/<robot>/quarantine/``; the reason is the ``.reason.txt`` beside the file, and
    its time is when the file was moved there.
    """
    found: list[QuarantinedFile] = []
    folders = [(DEFAULT_ROBOT_ID, drop_dir)]
    if drop_dir.is_dir():
        folders += [
            (sub.name, sub)
            for sub in sorted(drop_dir.iterdir())
            if sub.is_dir()
            and not sub.is_symlink()
            and sub.name not in (ARCHIVE_FOLDER, QUARANTINE_FOLDER)
            and not sub.name.startswith(".")
        ]
    for robot_id, folder in folders:
        found += _quarantined_in(folder / QUARANTINE_FOLDER, robot_id)
    return sorted(found, key=lambda item: (item.quarantined_at, item.name), reverse=True)


def _quarantined_in(folder: Path, robot_id: str) -> list[QuarantinedFile]:
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.endswith((REASON_SUFFIX, ".part")) or not path.is_file():
            continue
        reason_path = path.with_name(path.name + REASON_SUFFIX)
        reason = (
            reason_path.read_text().strip() if reason_path.is_file() else "(no reason recorded)"
        )
        stamp = (reason_path if reason_path.is_file() else path).stat().st_mtime
        when = pd.Timestamp(datetime.fromtimestamp(stamp, UTC))
        found.append(QuarantinedFile(path.name, robot_id, reason, when, path))
    return found


def quarantined_since(
    quarantined: list[QuarantinedFile], robot_id: str, since: pd.Timestamp
) -> int:
    """How many of ``robot_id``'s files were quarantined at or after ``since``."""
    return sum(q.robot_id == robot_id and q.quarantined_at >= since for q in quarantined)


def retry_quarantined(drop_dir: Path, name: str, robot_id: str | None = None) -> Path:
    """Move a quarantined file back into its robot's drop folder, where the sensor scores it
    again, and drop its reason; the path it now has.

    Raises
    ------
    PipelineError
        When no quarantined file has that name (of that robot), several robots have one, or a
        file of that name already waits in the drop folder.
    """
    matches = [
        q
        for q in list_quarantined(drop_dir)
        if q.name == name and (robot_id is None or q.robot_id == robot_id)
    ]
    if not matches:
        raise PipelineError(
            f"no quarantined file named {name!r}"
            + (f" for robot {robot_id}" if robot_id else "")
            + "; list them with `pm-pipeline quarantine`."
        )
    if len({q.robot_id for q in matches}) > 1:
        robots = ", ".join(sorted({q.robot_id for q in matches}))
        raise PipelineError(f"{name!r} is quarantined for several robots ({robots}); add --robot.")
    quarantined = matches[0]
    target = robot_drop_folder(drop_dir, quarantined.robot_id) / quarantined.name
    if target.exists():
        raise PipelineError(f"{target} already exists; score or move it first, then retry.")
    os.replace(quarantined.path, target)
    quarantined.path.with_name(quarantined.name + REASON_SUFFIX).unlink(missing_ok=True)
    return target
