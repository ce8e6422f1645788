"""Whether a detector mode suits a robot's data, checked before a training run starts."""

from __future__ import annotations

from pm_pipeline.core.detection.registry import DETECTORS, detector_for
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import AutoSettings
from pm_pipeline.core.model.sizing import short_window_hint


def least_axes(mode: str) -> int:
    """Fewest axes with readings that ``mode`` trains on; ``auto`` picks a mode that fits
    one channel when only one carries readings."""
    if mode == AutoSettings.mode:
        return min(detector.min_axes for detector in DETECTORS.values())
    return detector_for(mode).min_axes


def modes_for_axes(axis_count: int) -> list[str]:
    """The detector modes that can model ``axis_count`` axes with readings."""
    return [mode for mode, detector in DETECTORS.items() if detector.min_axes <= axis_count]


def check_mode_fits(
    mode: str,
    robot_id: str,
    axes: tuple[str, ...],
    held: int,
    needed: int,
    cadence_s: float | None,
) -> None:
    """Raise unless ``mode`` can train on a window of ``held`` readings of ``axes``.

    Parameters
    ----------
    mode
        The detector mode new versions are fitted with.
    robot_id
        The robot, for the message.
    axes
        The axes that carry readings in the window.
    held, needed
        Readings in the window (counted up to ``needed``), and the fewest a version is
        promoted with.
    cadence_s
        The robot's median step between readings, to say how many days ``needed`` readings
        span; None when unknown.

    Raises
    ------
    PipelineError
        Naming the setting or flag to change: the mode (``PM_DETECTOR_MODE``) when it needs
        more axes than carry readings, the window or ``PM_MIN_TRAINING_ROWS`` when it is short.
    """
    needed_axes = least_axes(mode)
    if held == 0:
        raise PipelineError(
            f"robot {robot_id!r} has no stored readings in the training window; ingest its "
            f"exports first (`pm-pipeline ingest FILE --robot {robot_id}`) or widen the window."
        )
    if len(axes) < needed_axes:
        fitting = ", ".join(modes_for_axes(len(axes))) or "none"
        raise PipelineError(
            f"mode {mode!r} needs readings on at least {needed_axes} axes and robot "
            f"{robot_id!r} has them on {len(axes)} ({', '.join(axes)}); set "
            f"PM_DETECTOR_MODE to a mode that fits {len(axes)} axis(es): {fitting}."
        )
    if held < needed:
        raise PipelineError(
            f"the training window of robot {robot_id!r} holds {held} readings and a version "
            f"needs at least {needed}: {short_window_hint(held, needed, cadence_s)}."
        )
