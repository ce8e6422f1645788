"""The fleet in Dagster's terms: robots and landed files as partitions.

Everything a robot owns (its training window, models, thresholds, checks and views) is a
partition of the dynamic ``robots`` dimension; a landed file's events are the partition
``robot × file`` of ``file_events``, so the UI filters a robot's files and ties each file's
events to that robot's thresholds.
"""

import warnings

import dagster as dg

ROBOT_DIMENSION = "robot"
FILE_DIMENSION = "file"
ROBOTS = "robots"
LANDED_FILES = "landed_files"

robots_partitions = dg.DynamicPartitionsDefinition(name=ROBOTS)
landed_files_partitions = dg.DynamicPartitionsDefinition(name=LANDED_FILES)
robot_files_partitions = dg.MultiPartitionsDefinition(
    {ROBOT_DIMENSION: robots_partitions, FILE_DIMENSION: landed_files_partitions}
)
with warnings.catch_warnings():
    # A Dagster beta; its warning would print on every command that loads the definitions.
    warnings.simplefilter("ignore", dg.BetaWarning)
    SAME_ROBOT = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=ROBOT_DIMENSION)
"""A file's events depend on its robot's thresholds; a robot's views on its files' events."""


def robot_file_key(robot_id: str, file_key: str) -> dg.MultiPartitionKey:
    """The ``file_events`` partition of one landed file of one robot."""
    return dg.MultiPartitionKey({ROBOT_DIMENSION: robot_id, FILE_DIMENSION: file_key})


def split_robot_file_key(key: str) -> tuple[str, str]:
    """``(robot_id, file_key)`` of a ``file_events`` partition key, string or object."""
    keys = robot_files_partitions.get_partition_key_from_str(str(key)).keys_by_dimension
    return keys[ROBOT_DIMENSION], keys[FILE_DIMENSION]
