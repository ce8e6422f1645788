"""Materializing assets the way runs do: a robot's partition, or a robot's file's partition,
added to the instance first."""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from pm_pipeline.core.schema import DEFAULT_ROBOT_ID
from pm_pipeline.defs.assets import file_events
from pm_pipeline.defs.execution import add_robot
from pm_pipeline.defs.jobs import build_landed_files_job
from pm_pipeline.defs.partitions import LANDED_FILES, robot_file_key

ROBOT = DEFAULT_ROBOT_ID


def materialize_robot(
    assets: Sequence[Any], instance: dg.DagsterInstance, robot: str = ROBOT, **kwargs: Any
) -> dg.ExecuteInProcessResult:
    """``dg.materialize`` of ``robot``'s partition."""
    return dg.materialize(
        assets, instance=instance, partition_key=add_robot(instance, robot), **kwargs
    )


def materialize_file(
    assets: Sequence[Any],
    instance: dg.DagsterInstance,
    file_key: str,
    robot: str = ROBOT,
    **kwargs: Any,
) -> dg.ExecuteInProcessResult:
    """``dg.materialize`` of the ``file_events`` partition of ``robot``'s file ``file_key``."""
    add_robot(instance, robot)
    instance.add_dynamic_partitions(LANDED_FILES, [file_key])
    return dg.materialize(
        assets, instance=instance, partition_key=str(robot_file_key(robot, file_key)), **kwargs
    )


def add_landed(instance: dg.DagsterInstance, file_key: str, robot: str = ROBOT) -> str:
    """Add the robot and the file as partitions; the ``file_events`` partition key."""
    add_robot(instance, robot)
    instance.add_dynamic_partitions(LANDED_FILES, [file_key])
    return landed_key(file_key, robot)


def landed_key(file_key: str, robot: str = ROBOT) -> str:
    """The ``file_events`` partition key of ``robot``'s file ``file_key``."""
    return str(robot_file_key(robot, file_key))


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


def latest_file_metadata(
    instance: dg.DagsterInstance, file_key: str, robot: str = ROBOT
) -> dict[str, Any]:
    """The metadata of the newest ``file_events`` materialization of ``robot``'s file."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=file_events.key, asset_partitions=[landed_key(file_key, robot)]
        ),
        limit=1,
    ).records
    assert records, f"no materialization of {robot}'s {file_key}"
    materialization = records[0].asset_materialization
    assert materialization is not None
    return {key: value.value for key, value in materialization.metadata.items()}
