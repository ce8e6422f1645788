"""Names shared by every layer: the axes and the canonical reading columns."""

AXIS_COUNT = 8
AXES: tuple[str, ...] = tuple(f"axis_{i}" for i in range(1, AXIS_COUNT + 1))
TIME_COLUMN = "timestamp_recorded"
READING_COLUMNS: tuple[str, ...] = (TIME_COLUMN, *AXES)
DEFAULT_ROBOT_ID = "robot-1"
"""The robot a deployment without a robots file serves."""
