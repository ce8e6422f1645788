"""Names shared by every layer: the axes and the canonical reading columns."""

AXIS_COUNT = 8
AXES: tuple[str, ...] = tuple(f"axis_{i}" for i in range(1, AXIS_COUNT + 1))
TIME_COLUMN = "timestamp_recorded"
READING_COLUMNS: tuple[str, ...] = (TIME_COLUMN, *AXES)
CONTEXT_COUNT = 16
CONTEXT_COLUMNS = tuple(f"context_{i}" for i in range(1, 17))
"""Context channels (a joint temperature, a speed, a program number): float columns a
readings frame may carry, all-NaN when unused. Models use them as inputs and never alarm
on them."""
DEFAULT_ROBOT_ID = "robot-1"
"""The robot a deployment without a robots file serves."""

SYNTHETIC_SOURCE = "synthetic"
"""Source of the synthetic verification set's events before they named their model version;
stored rows with it are still the synthetic set's."""


def synthetic_source(model_version: str) -> str:
    """The events source of the synthetic verification set of ``model_version``."""
    return f"{SYNTHETIC_SOURCE}:{model_version}"


def is_synthetic_source(source: str) -> bool:
    """Whether events of ``source`` come from a synthetic verification set, not a landed file."""
    return source == SYNTHETIC_SOURCE or source.startswith(f"{SYNTHETIC_SOURCE}:")


CONTEXT_COUNT = 16
CONTEXT_COLUMNS = tuple(f"context_{i}" for i in range(1, 17))
"""Context channels (a robots file's ``context_columns``, in its order): model inputs that
never alarm, such as joint temperatures, speeds or a program number. Stored as numbers beside
the axes; a robot without them leaves them blank."""
