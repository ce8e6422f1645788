"""The sensor's watch of recent archives: a scored file written to after its run began (a
writer still holding it open) goes back to the drop folder, to be scored again whole.

A move keeps the file's inode, so a writer with the file open goes on appending to the
archived copy. The run hashes the bytes it archives (bytes added before the move are caught
there); bytes added after it are caught here, for :func:`archive_watch_seconds` after the run.
"""

import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from pm_pipeline.config.settings import Settings
from pm_pipeline.core.landing.plan import ARCHIVE_FOLDER, archive_watch_seconds
from pm_pipeline.defs.assets.scoring import FILE_NAME_METADATA
from pm_pipeline.defs.jobs import LANDED_FILES_JOB, landed_files_in
from pm_pipeline.defs.partitions import split_robot_day_key
from pm_pipeline.services.landing import reland_if_grown


def reland_grown_archives(context: dg.SensorEvaluationContext, settings: Settings) -> None:
    """Put back into the drop folder each file a recent run scored and archived that was
    written to after the run began (a writer still holding it open), to be scored again."""
    since = time.time() - archive_watch_seconds(settings.settle_seconds)
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=LANDED_FILES_JOB,
            statuses=[dg.DagsterRunStatus.SUCCESS],
            updated_after=datetime.fromtimestamp(since, UTC),
        )
    )
    for record in records:
        if record.start_time is None:
            continue
        run = record.dagster_run
        landed = {(d["robot"], d["file"]): Path(d["path"]) for d in landed_files_in(run.run_config)}
        for copy, key in _archived_in_run(context.instance, run.run_id):
            if key in landed and copy.parent.name == ARCHIVE_FOLDER:
                back = reland_if_grown(copy, landed[key], record.start_time)
                if back is not None:
                    context.log.warning(
                        f"{key[1]} was written to after run {run.run_id} scored it; moved to "
                        f"{back} to be scored again whole"
                    )


ARCHIVES_REMEMBERED = 64
"""Succeeded runs whose archived files this process remembers (see :func:`_archived_in_run`)."""
_archived_by_run: dict[str, list[tuple[Path, tuple[str, str]]]] = {}


def _archived_in_run(
    instance: dg.DagsterInstance, run_id: str
) -> list[tuple[Path, tuple[str, str]]]:
    """(where the file went, its robot and file key) for each file the run materialized.

    Read once per run in this process: the run has succeeded, so its materializations are
    final, and every tick of the watch would otherwise read them all again (each with its
    event tables) for a minute after the run.
    """
    if run_id not in _archived_by_run:
        if len(_archived_by_run) >= ARCHIVES_REMEMBERED:
            del _archived_by_run[next(iter(_archived_by_run))]
        _archived_by_run[run_id] = _read_archived_in_run(instance, run_id)
    return _archived_by_run[run_id]


def _read_archived_in_run(
    instance: dg.DagsterInstance, run_id: str
) -> list[tuple[Path, tuple[str, str]]]:
    found = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        if materialization is None or "file" not in materialization.metadata:
            continue
        robot, _ = split_robot_day_key(str(materialization.partition))
        key = (robot, str(materialization.metadata[FILE_NAME_METADATA].value))
        found.append((Path(str(materialization.metadata["file"].value)), key))
    return found
