"""Labelled synthetic test data drawn from a trained model.

Readings continue in time after the training window at the model's cadence. Each axis
follows its fitted line plus Gaussian residuals with the fitted mean and spread, converted
back to amperes. Runs at alert level and at error level are injected into every axis, and
their windows are returned as ground truth. Only the model's axes are drawn; the other axis
columns (axes the robot lacks) stay blank, "no load", as they were in training.

Each axis' runs sit in their own slices of the set, so a per-axis detector sees each run
alone. A detector whose events span every channel (``joint_events``: one multivariate
statistic per reading) would report runs of two axes that happen to coincide as one event
that names both, each with part of its share: that is two simultaneous faults, not the
single-channel fault the check is about. For such a detector every run of every axis gets
its own slice, in shuffled order, and sits inside it with quiet readings on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.registry import model_detector
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.schema import AXES, TIME_COLUMN

INJECTION_NOISE = 0.2
"""Spread (in z) of injected readings around their level, so a run stays inside its band."""
VERIFICATION_HOURS = 6.0
"""The least length of a synthetic set in time: at a fast cadence, hours of readings."""
SLOT_RUNS = 4
"""Each injected run gets a slice of the set this many times its length (plus a margin), so
ordinary readings separate the runs: at a slow cadence the set is sized by these readings."""


def verification_readings(
    model: TrainedModel, runs_per_level: int = 1, hours: float = VERIFICATION_HOURS
) -> int:
    """Readings of a synthetic set for ``model``: ``hours`` at the model's cadence, and never
    fewer than its injected runs need (:data:`SLOT_RUNS` times each run's length).

    A 1-s robot gets 6 h (21,600 readings); a machine read every 5 minutes gets the readings
    its runs need, whatever span of time they cover.
    """
    by_time = int(hours * 3600 / model.dt_s)
    return max(by_time, SLOT_RUNS * _needed_readings(model, runs_per_level))


def _needed_readings(model: TrainedModel, runs_per_level: int) -> int:
    """The fewest readings that hold the injected runs apart (two levels per axis)."""
    detector = model_detector(model)
    longest = max(detector.injection_run_length(model, axis) for axis in model.axis_names)
    return _slot_count(model, runs_per_level) * (longest + 2)


def _slot_count(model: TrainedModel, runs_per_level: int) -> int:
    """Slices the set is cut into: one per run of an axis, or one per run of every axis
    when the detector's events span every channel."""
    per_axis = 2 * runs_per_level
    return per_axis * len(model.axis_names) if model_detector(model).joint_events else per_axis


@dataclass(frozen=True)
class SyntheticSet:
    """Synthetic readings in amperes and the injected windows that are ground truth."""

    readings: pd.DataFrame
    injected: pd.DataFrame
    model_version: str


def generate_synthetic_test_data(
    model: TrainedModel,
    hours: float = VERIFICATION_HOURS,
    runs_per_level: int = 1,
    seed: int = 7,
    readings: int | None = None,
) -> SyntheticSet:
    """Draw readings from ``model`` and inject alert- and error-level runs on every axis.

    Parameters
    ----------
    model
        The trained model to imitate.
    hours
        Least length of the synthetic set in time (see :func:`verification_readings`); it
        starts one cadence step after the training window.
    runs_per_level
        Injected runs per axis at each of the two levels.
    seed
        Seed of the random generator, so a set can be reproduced exactly.
    readings
        Exact number of readings, instead of sizing the set from ``hours`` and the runs.

    Returns
    -------
    SyntheticSet
        ``readings`` (canonical columns, amperes) and ``injected`` with columns
        ``axis, level, start, end, z_level, n_samples``.
    """
    rng = np.random.default_rng(seed)
    count = _set_length(model, hours, runs_per_level, readings)
    start = pd.Timestamp(model.window_end) + pd.Timedelta(seconds=model.dt_s)
    times = pd.Series(start + pd.to_timedelta(np.arange(count) * model.dt_s, unit="s"))
    seconds = (times - model.epoch_ts).dt.total_seconds().to_numpy()
    drawn = pd.DataFrame({TIME_COLUMN: times, **{axis: np.nan for axis in AXES}})
    windows = []
    joint = model_detector(model).joint_events
    slots = _slot_count(model, runs_per_level)
    order = rng.permutation(slots) if joint else np.arange(slots)
    for index, axis in enumerate(model.axis_names):
        z = rng.standard_normal(count)
        plan = _injection_plan(model, axis, runs_per_level)
        for slot, (level, z_level, length) in enumerate(plan):
            if joint:
                first = _quiet_start(
                    int(order[index * len(plan) + slot]), slots, count, length, rng
                )
            else:
                first = _slot_start(slot, slots, count, length, rng)
            z[first : first + length] = z_level + INJECTION_NOISE * rng.standard_normal(length)
            windows.append(
                {
                    "axis": axis,
                    "level": level,
                    "start": times.iloc[first],
                    "end": times.iloc[first + length - 1],
                    "z_level": z_level,
                    "n_samples": length,
                }
            )
        fitted = model.axes[axis]
        scaled = fitted.slope * seconds + fitted.intercept + fitted.residual_mu
        scaled = scaled + fitted.residual_sigma * z
        drawn[axis] = model.scaling.unscale(axis, scaled)
    injected = pd.DataFrame(windows).sort_values(["start", "axis"], ignore_index=True)
    return SyntheticSet(readings=drawn, injected=injected, model_version=model.version)


def _set_length(
    model: TrainedModel, hours: float, runs_per_level: int, readings: int | None
) -> int:
    """``readings``, or the sized length; a PipelineError when too short for the runs."""
    count = verification_readings(model, runs_per_level, hours) if readings is None else readings
    needed = _needed_readings(model, runs_per_level)
    if count < needed:
        raise PipelineError(
            f"config: a synthetic set of {count} readings is too short for {runs_per_level} "
            f"injected run(s) per level, which need {needed}; raise `readings` (or leave it "
            "unset to size the set from the model) or lower `runs_per_level`."
        )
    return count


def _injection_plan(
    model: TrainedModel, axis: str, runs_per_level: int
) -> list[tuple[str, float, int]]:
    thresholds = model.axes[axis].thresholds
    detector = model_detector(model)
    length = detector.injection_run_length(model, axis)
    alert_level = detector.per_sample_level(
        model, axis, (thresholds.z_alert + thresholds.z_error) / 2
    )
    error_level = detector.per_sample_level(model, axis, thresholds.z_error + 1.5)
    plan = [("ALERT", alert_level, length), ("ERROR", error_level, length)]
    return plan * runs_per_level


def _slot_start(slot: int, slots: int, count: int, length: int, rng: np.random.Generator) -> int:
    """A start inside the slot-th of ``slots`` equal slices, so injected runs never touch."""
    width = count // slots
    room = max(width - length - 2, 1)
    return min(slot * width + 1 + int(rng.integers(0, room)), count - length)


def _quiet_start(slot: int, slots: int, count: int, length: int, rng: np.random.Generator) -> int:
    """A start inside the slot-th of ``slots`` equal slices with a quarter of the slice's
    spare readings quiet on each side, so runs in neighbouring slices never run together."""
    width = count // slots
    margin = max(width - length, 0) // 4
    room = max(width - length - 2 * margin, 1)
    return min(slot * width + margin + int(rng.integers(0, room)), count - length)
