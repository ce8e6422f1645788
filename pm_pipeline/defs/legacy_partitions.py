"""Upgrading an instance from the ``robot × file`` layout of ``file_events`` to ``robot × day``.

Before, every landed file was a key of the dynamic ``landed_files`` partitions, crossed with
every robot. Each such file's newest materialization is reported again, unchanged, as a
materialization of its robot-day (the day it was materialized), and the file's key is then
deleted; the old materializations stay in the event log under their old keys, which the UI no
longer lists. The sensor does a bounded share at each tick, so a big instance upgrades over a
few ticks without a step by hand (see "Upgrading" in docs/operations.md).
"""

from __future__ import annotations

import logging

import dagster as dg

from pm_pipeline.defs.partitions import (
    LEGACY_FILE_PARTITIONS,
    ROBOTS,
    landing_day,
    robot_day_key,
)

FILES_PER_TICK = 200
"""Old file keys upgraded per sensor tick: the tick stays well inside its 60 s."""
_FILE_EVENTS = dg.AssetKey("file_events")


def upgrade_file_partitions(
    instance: dg.DagsterInstance,
    log: logging.Logger | dg.DagsterLogManager,
    limit: int = FILES_PER_TICK,
) -> int:
    """Move up to ``limit`` old file keys to robot-days; returns how many moved."""
    old_keys = instance.get_dynamic_partitions(LEGACY_FILE_PARTITIONS)
    for file_key in old_keys[:limit]:
        for materialization, timestamp in _newest_per_robot(instance, file_key):
            robot = str(materialization.partition).split("|")[1]
            day = landing_day(timestamp)
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=_FILE_EVENTS,
                    partition=str(robot_day_key(robot, day)),
                    metadata={**materialization.metadata, "file_name": file_key},
                    tags=materialization.tags,
                    description=materialization.description,
                )
            )
        instance.delete_dynamic_partition(LEGACY_FILE_PARTITIONS, file_key)
    moved = min(limit, len(old_keys))
    if moved:
        log.info(
            f"upgraded {moved} file partition(s) of file_events to robot × day; "
            f"{len(old_keys) - moved} to go"
        )
    return moved


def _newest_per_robot(
    instance: dg.DagsterInstance, file_key: str
) -> list[tuple[dg.AssetMaterialization, float]]:
    """The newest materialization of ``file_key`` under each robot that has one.

    The old keys were ``<file>|<robot>`` (Dagster orders dimensions by name).
    """
    robots = instance.get_dynamic_partitions(ROBOTS)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=_FILE_EVENTS, asset_partitions=[f"{file_key}|{robot}" for robot in robots]
        ),
        limit=max(len(robots), 1) * 20,
    ).records
    newest: dict[str, tuple[dg.AssetMaterialization, float]] = {}
    for record in records:  # newest first
        materialization = record.asset_materialization
        if materialization is not None and str(materialization.partition) not in newest:
            newest[str(materialization.partition)] = (materialization, record.timestamp)
    return list(newest.values())
