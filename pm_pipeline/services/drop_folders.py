"""The drop folder's ``archive/`` and ``quarantine/``: real folders inside it, or refused.

A symlink there would carry landed files out of the drop folder (to wherever it points), so
the sensor's tick fails with one line naming the folder before any file moves, and a run's
move into either folder is refused the same way.
"""

from __future__ import annotations

from pathlib import Path

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.landing.plan import ARCHIVE_FOLDER, QUARANTINE_FOLDER


def check_finished_folders(drop_dir: Path) -> None:
    """Refuse a drop folder whose ``archive/`` or ``quarantine/`` (its own or a robot's) is
    a symlink or leads out of it.

    Raises
    ------
    PipelineError
        Naming the folder and the fix.
    """
    folders = [drop_dir, *(sub for sub in _robot_folders(drop_dir))]
    for folder in folders:
        for name in (ARCHIVE_FOLDER, QUARANTINE_FOLDER):
            if (folder / name).is_symlink() or (folder / name).exists():
                finished_folder(folder, name)


def _robot_folders(drop_dir: Path) -> list[Path]:
    if not drop_dir.is_dir():
        return []
    return [
        sub
        for sub in sorted(drop_dir.iterdir())
        if sub.is_dir()
        and not sub.is_symlink()
        and not sub.name.startswith(".")
        and sub.name not in (ARCHIVE_FOLDER, QUARANTINE_FOLDER)
    ]


def finished_folder(folder: Path, name: str) -> Path:
    """``folder/name`` (archive/ or quarantine/), once sure it is a real folder inside
    ``folder``: never a symlink, which would carry landed files out of the drop folder."""
    finished = folder / name
    if finished.is_symlink() or (
        finished.exists() and finished.resolve().parent != folder.resolve()
    ):
        raise PipelineError(
            f"{finished} is a symlink (to {finished.resolve()}); landed files must stay "
            f"inside the drop folder: replace it with a real folder "
            f"(rm {finished} && mkdir {finished})."
        )
    if finished.exists() and not finished.is_dir():
        raise PipelineError(f"{finished} is not a folder; remove it so landed files can go there.")
    return finished
