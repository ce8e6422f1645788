"""A robot that switches to another program: a new motion pattern that is no fault.

A different program moves the axes differently: some harder, some less, in cycles of another
length. The currents a program draws are normal for it, so a model trained on the old
program flags the new one until it is told (a ``new-normal`` label) and retrained.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pm_pipeline.core.schema import TIME_COLUMN

PROGRAM_B_GAINS = {
    "axis_1": 1.5,
    "axis_2": 0.7,
    "axis_3": 1.45,
    "axis_4": 0.6,
    "axis_5": 1.3,
    "axis_6": 1.0,
    "axis_7": 1.0,
    "axis_8": 1.4,
}
"""How program B loads each axis against program A (the sample robot's program)."""


def switch_program(
    readings: pd.DataFrame, start: pd.Timestamp, gains: dict[str, float] | None = None
) -> pd.DataFrame:
    """The readings with every axis' current scaled by its ``gains`` from ``start`` on.

    Parameters
    ----------
    readings
        Canonical readings of the old program.
    start
        When the robot switches.
    gains
        Factor per axis (default :data:`PROGRAM_B_GAINS`); idle rows stay 0 A.
    """
    switched = readings.copy()
    after = switched[TIME_COLUMN] >= start
    for axis, gain in (gains or PROGRAM_B_GAINS).items():
        switched.loc[after, axis] = np.round(switched.loc[after, axis] * gain, 5)
    return switched
