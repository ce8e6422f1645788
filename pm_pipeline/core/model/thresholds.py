"""Publishing a model's thresholds, per axis, in scaled units and in amperes."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.trained import TrainedModel


def one_model_version(versions: Mapping[str, str | None]) -> str:
    """The one model version that every axis asset (name → its newest data version, None
    when it was never materialized) belongs to.

    Raises
    ------
    PipelineError
        When an axis asset was never materialized, or the axis assets come from different
        model versions (a partial rematerialization after the readings changed); materialize
        all axis_models together.
    """
    missing = [name for name, version in versions.items() if version is None]
    if missing:
        raise PipelineError(
            f"{', '.join(missing)} has no model version yet; materialize all axis_models first."
        )
    found = sorted({str(version) for version in versions.values()})
    if len(found) != 1:
        raise PipelineError(
            f"the axis models come from different model versions ({', '.join(found)}); "
            "materialize all axis_models together."
        )
    return found[0]


def threshold_table(model: TrainedModel, axis: str) -> pd.DataFrame:
    """One axis' limits as rows ``parameter, value, unit``.

    The residual limits are given in scaled units (what the detector compares) and in amperes
    above the regression line (what an engineer reads on the drive). An axis the model does
    not cover (no readings in its training window) gets the version, the mode and a
    ``modelled: no`` row, so its asset still says which version it belongs to.
    """
    if axis not in model.axes:
        return pd.DataFrame(
            [
                ("model_version", model.version, ""),
                ("mode", model.params.mode, ""),
                ("modelled", "no: no readings in the training window", ""),
            ],
            columns=["parameter", "value", "unit"],
        )
    fitted = model.axes[axis]
    limits = fitted.thresholds
    amperes_per_unit = model.scaling.span(axis)
    channels = [
        row
        for name, channel in (fitted.channels or {}).items()
        for row in (
            (f"{name}_center", channel.center, "z"),
            (f"{name}_scale", channel.scale, "z"),
            (f"{name}_sustain_alert", channel.sustain_alert, "samples"),
            (f"{name}_sustain_error", channel.sustain_error, "samples"),
        )
    ]
    rows = [
        ("model_version", model.version, ""),
        ("mode", model.params.mode, ""),
        ("z_alert", limits.z_alert, "z"),
        ("z_error", limits.z_error, "z"),
        ("residual_mu", fitted.residual_mu, "scaled"),
        ("residual_sigma", fitted.residual_sigma, "scaled"),
        ("MinC", limits.min_c, "scaled"),
        ("MaxC", limits.max_c, "scaled"),
        ("MinC_A", limits.min_c * amperes_per_unit, "A"),
        ("MaxC_A", limits.max_c * amperes_per_unit, "A"),
        ("sustain_samples", limits.sustain_samples, "samples"),
        ("sustain_s", limits.sustain_s, "s"),
        ("dt_s", model.dt_s, "s"),
        *channels,
    ]
    return pd.DataFrame(rows, columns=["parameter", "value", "unit"]).astype({"value": str})
