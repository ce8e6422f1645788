"""Materializing assets the way runs do: a robot's partition, or a robot's file's partition,
added to the instance first."""

from collections.abc import Sequence
from typing import Any

import dagster as dg

from pm_pipeline.core.schema import DEFAULT_ROBOT_ID
from pm_pipeline.defs.execution import add_robot
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
