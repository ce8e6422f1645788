"""Training group: readings window → min-max scaler → eight axis models → eight threshold tables,
each a partition per robot.

The eight asset keys are fixed; a model covers only the axes with readings in its window (a
robot with fewer axes), and the other keys materialize the same version marked not modelled.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from pm_pipeline.config.robots import robot_export_format
from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.detection.registry import fit_model as fit_trained_model
from pm_pipeline.core.detection.registry import model_detector
from pm_pipeline.core.model.exclusion import excluded_readings
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.thresholds import single_model, threshold_table
from pm_pipeline.core.model.trained import (
    MinMaxScaling,
    TrainedModel,
    fit_minmax_scaling,
    for_robot,
    with_context_names,
)
from pm_pipeline.core.model.windows import newest_hours
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.core.versioning import readings_fingerprint
from pm_pipeline.db.registry import register_model
from pm_pipeline.defs.metadata import (
    axis_model_metadata,
    exclusion_metadata,
    readings_metadata,
    source_metadata,
    table_markdown,
)
from pm_pipeline.defs.partitions import robots_partitions
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline.services.sources import training_readings
from pm_pipeline.services.training import TrainingWindow, context_names

AXIS_MODEL_KEYS = {axis: dg.AssetKey(["axis_models", axis]) for axis in AXES}
THRESHOLD_KEYS = {axis: dg.AssetKey(["thresholds", axis]) for axis in AXES}


class RawReadingsConfig(dg.Config):
    """Which readings train the model: a table and a window (start/end or last N days) or limit."""

    table: str | None = None
    start: str | None = None
    end: str | None = None
    last_days: float | None = None
    limit: int | None = None


STATISTIC_PLOT_HOURS = 6.0
"""The axis-model page draws the detector's score over the training window's newest hours: a
plot shows a few hundred points, and scoring a month of readings for it would cost as much as
fitting the model."""


class AxisModelsConfig(dg.Config):
    """Detector mode (``auto``, the default, picks ``mspc`` or ``cusum`` per robot from its
    training data; ``robust``; or ``seed``, the original recipe) and its settings, baked into
    each model version; empty settings take the mode's defaults, and no mode takes
    ``PM_DETECTOR_MODE``."""

    mode: str | None = None
    z_alert: float | None = None
    z_error: float | None = None
    sustain_percentile: float | None = None
    min_sustain_samples: int | None = None
    gap_factor: float | None = None
    window_samples: int | None = None
    false_alarm_budget_per_h: float | None = None


@dg.asset(group_name="training", kinds={"pandas"}, partitions_def=robots_partitions)
def raw_readings(
    context: dg.AssetExecutionContext,
    config: RawReadingsConfig,
    readings_db: ReadingsDatabaseResource,
) -> dg.MaterializeResult:
    """The training window of motor-current readings, read from the readings table after
    copying in what is new in your own readings table (PM_SOURCE_LAYOUT), if one is set."""
    table = readings_db.table(config.table)
    window = TrainingWindow(config.start, config.end, config.last_days, config.limit)
    engine, robot_id = readings_db.engine(), context.partition_key
    gathered = training_readings(
        load_settings(), engine, readings_db.resolved_url, table, robot_id, window
    )
    frame, synced = gathered.readings, gathered.synced
    if synced is not None:
        context.log.info(
            f"copied {synced.rows_added} new of {synced.rows_read} readings read from "
            f"{synced.source}; mark {synced.mark}"
        )
    context.log.info(
        f"read {len(frame)} readings of {robot_id} from {readings_db.masked_url}; left out "
        f"{gathered.exclusion.readings} inside {len(gathered.exclusion.spans)} flagged span(s)"
    )
    return dg.MaterializeResult(
        value=frame,
        data_version=dg.DataVersion(readings_fingerprint(frame)),
        metadata={
            **readings_metadata(frame),
            "robot": robot_id,
            "table": table.fullname,
            "database": readings_db.masked_url,
            **source_metadata(synced),
            **exclusion_metadata(gathered.exclusion),
            # A maintenance record or a new-normal label cut the window here.
            "baseline": f"{gathered.baseline.start.isoformat()} ({gathered.baseline.reason})"
            if gathered.baseline
            else "none",
        },
    )


@dg.asset(group_name="training", partitions_def=robots_partitions)
def minmax_scaler(raw_readings: pd.DataFrame) -> dg.MaterializeResult:
    """Per-axis current ranges of the training window; every model works in these 0…1 units."""
    scaling = fit_minmax_scaling(raw_readings)
    ranges = pd.DataFrame(
        {
            "axis": list(scaling.minimums),
            "min_abs_A": scaling.minimums.values(),
            "max_abs_A": scaling.maximums.values(),
        }
    )
    unmodelled = [axis for axis in AXES if axis not in scaling.minimums]
    return dg.MaterializeResult(
        value=scaling,
        metadata={
            "ranges": table_markdown(ranges),
            "axes_without_readings": ", ".join(unmodelled) or "none",
        },
    )


def _per_axis_outs(keys: dict[str, dg.AssetKey], suffix: str, about: str) -> dict:
    """One ``AssetOut`` per axis, named ``axis_N_<suffix>``, described as ``about`` of the axis."""
    return {
        f"{axis}_{suffix}": dg.AssetOut(
            key=key, group_name="training", description=f"{about} of {axis}."
        )
        for axis, key in keys.items()
    }


@dg.multi_asset(
    outs=_per_axis_outs(
        AXIS_MODEL_KEYS, "model", "Regression of scaled current on time, and residual limits,"
    ),
    can_subset=True,
    partitions_def=robots_partitions,
)
def axis_models(
    context: dg.AssetExecutionContext,
    config: AxisModelsConfig,
    raw_readings: pd.DataFrame,
    minmax_scaler: MinMaxScaling,
) -> Iterator[dg.MaterializeResult]:
    # All eight lines are fitted even for a subset (milliseconds), so the model version
    # always covers the whole model.
    settings = config.model_dump()
    mode = settings.pop("mode") or load_settings().detector_mode
    params = settings_for_mode(mode, **settings)
    fitted = fit_trained_model(raw_readings, minmax_scaler, params, excluded_readings(raw_readings))
    robot_format = robot_export_format(load_settings(), context.partition_key)
    named = with_context_names(fitted, context_names(raw_readings, robot_format))
    model = for_robot(named, context.partition_key)
    context.log.info(f"model version {model.version} on {', '.join(model.axis_names)}")
    for axis in AXES:
        if axis not in model.axes:
            context.log.warning(f"{axis}: no readings in the training window; not modelled")
    drawn = newest_hours(raw_readings, STATISTIC_PLOT_HOURS)
    statistic = model_detector(model).statistic(model, drawn)
    for axis, key in AXIS_MODEL_KEYS.items():
        if key in context.selected_asset_keys:
            yield dg.MaterializeResult(
                asset_key=key,
                value=model,
                data_version=dg.DataVersion(model.version),
                metadata=axis_model_metadata(model, axis, raw_readings, statistic.get(axis)),
            )


@dg.multi_asset(
    outs=_per_axis_outs(
        THRESHOLD_KEYS, "thresholds", "ALERT/ERROR residual limits and sustain time"
    ),
    ins={f"{axis}_model": dg.AssetIn(key=key) for axis, key in AXIS_MODEL_KEYS.items()},
    partitions_def=robots_partitions,
)
def thresholds(
    context: dg.AssetExecutionContext,
    readings_db: ReadingsDatabaseResource,
    axis_1_model: TrainedModel,
    axis_2_model: TrainedModel,
    axis_3_model: TrainedModel,
    axis_4_model: TrainedModel,
    axis_5_model: TrainedModel,
    axis_6_model: TrainedModel,
    axis_7_model: TrainedModel,
    axis_8_model: TrainedModel,
) -> Iterator[dg.MaterializeResult]:
    model = single_model(
        [
            axis_1_model,
            axis_2_model,
            axis_3_model,
            axis_4_model,
            axis_5_model,
            axis_6_model,
            axis_7_model,
            axis_8_model,
        ]
    )
    is_new = register_model(
        readings_db.engine(), model, context.partition_key, context.run_id, registry_metrics(model)
    )
    context.log.info(
        f"model version {model.version} of {context.partition_key} "
        f"{'registered' if is_new else 'known'}"
    )
    for axis, key in THRESHOLD_KEYS.items():
        table = threshold_table(model, axis)
        yield dg.MaterializeResult(
            asset_key=key,
            value=table,
            data_version=dg.DataVersion(model.version),
            metadata={"model_version": model.version, "thresholds": table_markdown(table)},
        )


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
