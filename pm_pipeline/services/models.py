"""Model use cases: fit a robot's model version and keep it once, in the registry.

The registry row is the one stored copy of a model. The axis-model assets report its
version as their data version, and every later step loads the model by that version.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from pm_pipeline.config.robots import robot_export_format
from pm_pipeline.config.settings import Settings
from pm_pipeline.core.detection.registry import fit_model, model_detector
from pm_pipeline.core.model.exclusion import excluded_readings
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import (
    MinMaxScaling,
    TrainedModel,
    for_robot,
    with_context_names,
)
from pm_pipeline.core.model.windows import newest_hours
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.core.simulation.synthetic import SyntheticSet, generate_synthetic_test_data
from pm_pipeline.db.registry import load_model, register_model
from pm_pipeline.services.training import context_names

STATISTIC_PLOT_HOURS = 6.0
"""The axis-model page draws the detector's score over the training window's newest hours: a
plot shows a few hundred points, and scoring a month of readings for it would cost as much as
fitting the model."""


@dataclass(frozen=True)
class ModelVersion:
    """A fitted model version, as stored in the registry, and what its pages show."""

    model: TrainedModel
    is_new: bool
    """False when the registry already held this version (the same readings and settings)."""
    unmodelled: tuple[str, ...]
    """Axes without readings in the training window."""
    statistic: dict[str, pd.DataFrame]
    """Per modelled axis, the detector's score over the window's newest hours."""


def fit_model_version(
    engine: Engine,
    settings: Settings,
    robot_id: str,
    readings: pd.DataFrame,
    scaling: MinMaxScaling,
    detector: dict,
    run_id: str | None,
) -> ModelVersion:
    """Fit the robot's model on ``readings`` and store it in the registry (inactive until it
    passes its checks).

    ``detector`` holds a mode (None: ``PM_DETECTOR_MODE``) and that mode's settings (None:
    the mode's default). A version already stored is kept as it is.

    Raises
    ------
    PipelineError
        When the mode is unknown, a setting is out of range, or the window holds too few
        readings.
    """
    overrides = dict(detector)
    params = settings_for_mode(overrides.pop("mode", None) or settings.detector_mode, **overrides)
    fitted = fit_model(readings, scaling, params, excluded_readings(readings))
    export_format = robot_export_format(settings, robot_id)
    named = with_context_names(fitted, context_names(readings, export_format))
    model = for_robot(named, robot_id)
    is_new = register_model(engine, model, robot_id, run_id, registry_metrics(model))
    drawn = newest_hours(readings, STATISTIC_PLOT_HOURS)
    statistic = model_detector(model).statistic(model, drawn)
    unmodelled = tuple(axis for axis in AXES if axis not in model.axes)
    return ModelVersion(model, is_new, unmodelled, statistic)


def registry_metrics(model: TrainedModel) -> dict:
    """The per-axis figures stored with a version in the registry."""
    return (
        {
            axis: {
                "r2": fitted.r2,
                "sigma": fitted.residual_sigma,
                "slope": fitted.slope,
                "sustain_samples": fitted.thresholds.sustain_samples,
            }
            for axis, fitted in model.axes.items()
        }
        | {
            "window": [model.window_start, model.window_end],
            "time_column": TIME_COLUMN,
            "excluded_readings": model.excluded_row_count,
            "method": model.params.mode,
        }
        | ({"context_columns": model.context_names} if model.context_names else {})
    )


@dataclass(frozen=True)
class SyntheticSetConfig:
    """Length of a synthetic set, injected runs per axis and level, and its random seed;
    ``readings`` (None: sized by ``hours`` and the runs) fixes its length instead."""

    hours: float
    runs_per_level: int
    seed: int
    readings: int | None


def synthetic_set(engine: Engine, version: str, config: SyntheticSetConfig) -> SyntheticSet:
    """Labelled synthetic readings drawn from the registry's model ``version``.

    Raises
    ------
    PipelineError
        When the registry holds no such version.
    """
    return generate_synthetic_test_data(
        load_model(engine, version),
        config.hours,
        config.runs_per_level,
        config.seed,
        config.readings,
    )
