"""Running assets and the scoring job the way runs do: a robot's partition added to the
instance first, and files scored by ``landed_files_job`` (the one scoring path)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from pm_pipeline.core.schema import DEFAULT_ROBOT_ID
from pm_pipeline.defs.assets import file_events
from pm_pipeline.defs.assets.scoring import FILE_NAME_METADATA
from pm_pipeline.defs.execution import add_robot
from pm_pipeline.defs.jobs import build_landed_files_job

ROBOT = DEFAULT_ROBOT_ID


def materialize_robot(
    assets: Sequence[Any], instance: dg.DagsterInstance, robot: str = ROBOT, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    """``dg.materialize`` of ``robot``'s partition."""
    return dg.materialize(
        assets, instance=instance, partition_key=add_robot(instance, robot), **kwargs
    )


def score_files(
    instance: dg.DagsterInstance,
    files: Sequence[Path | tuple[str, Path]],
    resources: dict,
    archive: bool = False,
    model_version: str | None = None,
    **kwargs: Any,
) -> dg.ExecuteInProcessResult:
    """A run of ``landed_files_job`` over ``files`` (a path is the default robot's), in that
    order, their robots added as partitions first."""
    listed = [(ROBOT, item) if isinstance(item, Path) else item for item in files]
    for robot, _ in listed:
        add_robot(instance, robot)
    config = {
        "files": [{"robot": r, "file": p.name, "path": str(p)} for r, p in listed],
        "archive": archive,
        "model_version": model_version,
    }
    return build_landed_files_job(dg.in_process_executor).execute_in_process(
        run_config={"ops": {"score_landed_files": {"config": config}}},
        resources=resources,
        instance=instance,
        **{"raise_on_error": False, **kwargs},
    )


def run_sensor_request(
    instance: dg.DagsterInstance,
    tick: dg.SensorResult,
    request: dg.RunRequest,
    resources: dict,
) -> dg.ExecuteInProcessResult:
    """Run what a ``landed_file_sensor`` tick asked for in-process, as the daemon would: its
    partitions added first, then the run of ``landed_files_job``."""
    for added in tick.dynamic_partitions_requests or []:
        if isinstance(added, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(
                str(added.partitions_def_name), list(added.partition_keys)
            )
    return build_landed_files_job(dg.in_process_executor).execute_in_process(
        run_config=request.run_config,
        tags=request.tags,
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )


def file_materialization(
    instance: dg.DagsterInstance, file_key: str, robot: str = ROBOT
) -> dg.EventLogRecord:
    """The newest ``file_events`` materialization of ``robot``'s file ``file_key``."""
    records = instance.fetch_materializations(file_events.key, limit=10_000).records
    for record in records:  # newest first
        materialization = record.asset_materialization
        assert materialization is not None
        name = materialization.metadata.get(FILE_NAME_METADATA)
        if (
            name is not None
            and name.value == file_key
            and f"|{robot}" in str(materialization.partition)
        ):
            return record
    raise AssertionError(f"no materialization of {robot}'s {file_key}")


def latest_file_metadata(
    instance: dg.DagsterInstance, file_key: str, robot: str = ROBOT
) -> dict[str, Any]:
    """The metadata of the newest ``file_events`` materialization of ``robot``'s file."""
    materialization = file_materialization(instance, file_key, robot).asset_materialization
    assert materialization is not None
    return {key: value.value for key, value in materialization.metadata.items()}
