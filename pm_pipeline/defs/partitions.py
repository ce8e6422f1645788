"""The fleet in Dagster's terms: robots, and each robot's days.

Everything a robot owns (its training window, models, thresholds, checks and views) is a
partition of the dynamic ``robots`` dimension. Scoring output, ``file_events``, is partitioned
by ``robot × day``: a landed file is one materialization of the day it landed on, so the
partitions grow with robots × days, never with files, and a robot's partitions read as a
calendar of its days (see "Partitions" in docs/fleet.md).
"""

import warnings
from datetime import UTC, date, datetime

import dagster as dg

ROBOT_DIMENSION = "robot"
DAY_DIMENSION = "day"
ROBOTS = "robots"
FIRST_DAY = date(2022, 1, 1)
"""The first day of the ``day`` dimension; files that landed earlier count on this day."""
LEGACY_FILE_PARTITIONS = "landed_files"
"""The dynamic ``file`` dimension of the layout before robot × day (see docs/operations.md)."""

robots_partitions = dg.DynamicPartitionsDefinition(name=ROBOTS)
# end_offset=1: today is a partition already (Dagster's daily partitions otherwise end with
# yesterday), so a file landing today materializes a day the UI and automation know.
days_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), end_offset=1)
robot_days_partitions = dg.MultiPartitionsDefinition(
    {ROBOT_DIMENSION: robots_partitions, DAY_DIMENSION: days_partitions}
)
with warnings.catch_warnings():
    # A Dagster beta; its warning would print on every command that loads the definitions.
    warnings.simplefilter("ignore", dg.BetaWarning)
    SAME_ROBOT = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=ROBOT_DIMENSION)
"""A day's events depend on its robot's thresholds; a robot's views on its days' events."""


def landing_day(modified_at: float, today: date | None = None) -> str:
    """The ``day`` key of a file last modified at ``modified_at`` (epoch seconds): its UTC
    date, kept inside the dimension's range (a clock set wrong lands on its first or last day)."""
    day = datetime.fromtimestamp(modified_at, UTC).date()
    last = today or datetime.now(UTC).date()
    return min(max(day, FIRST_DAY), last).isoformat()


def robot_day_key(robot_id: str, day: str) -> dg.MultiPartitionKey:
    """The ``file_events`` partition of ``robot_id``'s files that landed on ``day``."""
    return dg.MultiPartitionKey({ROBOT_DIMENSION: robot_id, DAY_DIMENSION: day})


def split_robot_day_key(key: str) -> tuple[str, str]:
    """``(robot_id, day)`` of a ``file_events`` partition key, string or object."""
    keys = robot_days_partitions.get_partition_key_from_str(str(key)).keys_by_dimension
    return keys[ROBOT_DIMENSION], keys[DAY_DIMENSION]
