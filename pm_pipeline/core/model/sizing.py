"""How much data a model needs, counted in readings and turned into time by the cadence.

A detector's statistics need a number of readings, whatever time they span: 300 readings are
five minutes of a robot read every second and a day of a machine read every five minutes.
So the minimum training window is a number of readings (``PM_MIN_TRAINING_ROWS``), and the
hints that help a user meet it convert it to days at the robot's own cadence.
"""

from __future__ import annotations

import math

DEFAULT_MIN_TRAINING_ROWS = 300
"""Fewest training readings a version is promoted with unless the user says otherwise: a few
hundred, the size of SKAB's training windows."""
MIN_ROWS_SETTING = "PM_MIN_TRAINING_ROWS"
MIN_ROWS_FLAG = "--min-rows"


def days_for_readings(readings: int, cadence_s: float) -> float:
    """Days that ``readings`` readings span at one reading every ``cadence_s`` seconds."""
    return readings * cadence_s / 86400


def short_window_hint(held: int, needed: int, cadence_s: float | None) -> str:
    """What to change when a window holds ``held`` readings and ``needed`` are required:
    a longer window (in days, at the cadence, when known) or a lower minimum."""
    longer = "train on a longer window"
    if cadence_s and cadence_s > 0:
        days = math.ceil(days_for_readings(needed, cadence_s) * 10) / 10
        longer = (
            f"train on a longer window (at one reading every {cadence_s:g} s, {needed} "
            f"readings span {days:g} days: --last-days {days:g} or more)"
        )
    return (
        f"{longer}, or lower the minimum ({MIN_ROWS_SETTING}, or `pm-pipeline train "
        f"{MIN_ROWS_FLAG} {held}` for this run)"
    )
