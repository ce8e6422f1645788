"""The default mode, ``auto``: which detector suits a robot, read from its training data.

Two kinds of machine, told apart by one property of the training readings:

* **A machine that idles** (two or more channels, and at least ``idle_share`` of the
  readings with every channel at exactly 0: a robot arm standing still between motions)
  works in bursts whose currents follow the motion, not a linear relation around one
  operating point. ``cusum`` predicts each axis from the training moments nearest in the
  other axes' currents, with idle and active states of their own.
* **Any other machine** (a pump, a fan, a cobot holding its pose under torque, one
  temperature) runs around an operating point: ``mspc`` predicts each channel linearly
  from the others and the context columns, keeps signs, and follows slow drift.

The choice and its reason are stored with the model (:attr:`TrainedModel.selection`), so
they are part of its version and shown wherever the model is.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd

from pm_pipeline.core.model.params import (
    AutoSettings,
    CusumSettings,
    DetectorSettings,
    MspcSettings,
)


def idle_share(readings: pd.DataFrame, channels: tuple[str, ...]) -> float:
    """Share of readings with every channel at exactly 0 (a blank reading, no load, is 0)."""
    if not len(readings):
        return 0.0
    values = np.nan_to_num(readings[list(channels)].to_numpy(dtype="float64"))
    return float(np.mean(np.all(values == 0.0, axis=1)))


def chosen_settings(
    readings: pd.DataFrame, channels: tuple[str, ...], settings: DetectorSettings
) -> tuple[DetectorSettings, str | None]:
    """The settings a model is fitted with, and for ``auto`` why that mode (else None)."""
    if not isinstance(settings, AutoSettings):
        return settings, None
    share = idle_share(readings, channels)
    if len(channels) >= 2 and share >= settings.idle_share:
        reason = (
            f"auto chose cusum: {share:.0%} of the training readings are idle (every channel "
            f"0), at least {settings.idle_share:.0%}: a machine that idles"
        )
        return CusumSettings(), reason
    own = {field.name: getattr(settings, field.name) for field in fields(MspcSettings)}
    what = "one channel" if len(channels) == 1 else f"{share:.0%} of the readings idle"
    reason = f"auto chose mspc: {what}, under {settings.idle_share:.0%}: a machine that runs on"
    if len(channels) == 1:
        reason = "auto chose mspc: one channel"
    return MspcSettings(**own), reason
