"""Training group: readings window → min-max scaler → eight axis models → eight threshold tables,
each a partition per robot.

The eight asset keys are fixed; a model covers only the axes with readings in its window (a
robot with fewer axes), and the other keys materialize the same version marked not modelled.
The model itself is stored once, in the registry: the axis-model assets report its version as
their data version, and later steps load it by that version.
"""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from pm_pipeline.core.model.thresholds import one_model_version, threshold_table
from pm_pipeline.core.model.trained import MinMaxScaling, fit_minmax_scaling
from pm_pipeline.core.schema import AXES
from pm_pipeline.core.versioning import readings_fingerprint
from pm_pipeline.db.registry import load_model
from pm_pipeline.defs.metadata import (
    axis_model_metadata,
    exclusion_metadata,
    readings_metadata,
    source_metadata,
    table_markdown,
)
from pm_pipeline.defs.partitions import robots_partitions
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.services.models import fit_model_version
from pm_pipeline.services.sources import training_readings
from pm_pipeline.services.training import TrainingWindow

AXIS_MODEL_KEYS = {axis: dg.AssetKey(["axis_models", axis]) for axis in AXES}
THRESHOLD_KEYS = {axis: dg.AssetKey(["thresholds", axis]) for axis in AXES}


class RawReadingsConfig(dg.Config):
    """Which readings train the model: a table and a window (start/end or last N days) or limit."""

    table: str | None = None
    start: str | None = None
    end: str | None = None
    last_days: float | None = None
    limit: int | None = None


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
    settings: SettingsResource,
) -> dg.MaterializeResult:
    """The training window of motor-current readings, read from the readings table after
    copying in what is new in your own readings table (PM_SOURCE_LAYOUT), if one is set."""
    table = readings_db.table(config.table)
    window = TrainingWindow(config.start, config.end, config.last_days, config.limit)
    engine, robot_id = readings_db.engine(), context.partition_key
    gathered = training_readings(
        settings.loaded, engine, readings_db.resolved_url, table, robot_id, window
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
    readings_db: ReadingsDatabaseResource,
    settings: SettingsResource,
    raw_readings: pd.DataFrame,
    minmax_scaler: MinMaxScaling,
) -> Iterator[dg.MaterializeResult]:
    # All eight lines are fitted even for a subset (milliseconds), so the model version
    # always covers the whole model. The registry keeps it; the assets store nothing.
    robot_id = context.partition_key
    fitted = fit_model_version(
        readings_db.engine(),
        settings.loaded,
        robot_id,
        raw_readings,
        minmax_scaler,
        config.model_dump(),
        context.run_id,
    )
    model = fitted.model
    context.log.info(
        f"model version {model.version} of {robot_id} on {', '.join(model.axis_names)} "
        f"{'registered' if fitted.is_new else 'known'}"
    )
    for axis in fitted.unmodelled:
        context.log.warning(f"{axis}: no readings in the training window; not modelled")
    for axis, key in AXIS_MODEL_KEYS.items():
        if key in context.selected_asset_keys:
            yield dg.MaterializeResult(
                asset_key=key,
                data_version=dg.DataVersion(model.version),
                metadata=axis_model_metadata(model, axis, raw_readings, fitted.statistic.get(axis)),
            )


@dg.multi_asset(
    outs=_per_axis_outs(
        THRESHOLD_KEYS, "thresholds", "ALERT/ERROR residual limits and sustain time"
    ),
    deps=list(AXIS_MODEL_KEYS.values()),
    partitions_def=robots_partitions,
)
def thresholds(
    context: dg.AssetExecutionContext, readings_db: ReadingsDatabaseResource
) -> Iterator[dg.MaterializeResult]:
    model = load_model(readings_db.engine(), axis_models_version(context))
    for axis, key in THRESHOLD_KEYS.items():
        table = threshold_table(model, axis)
        yield dg.MaterializeResult(
            asset_key=key,
            value=table,
            data_version=dg.DataVersion(model.version),
            metadata={"model_version": model.version, "thresholds": table_markdown(table)},
        )


DATA_VERSION_TAG = "dagster/data_version"
"""The tag of a materialization that holds its data version."""


def axis_models_version(context: dg.AssetExecutionContext) -> str:
    """The model version the newest materializations of the robot's eight axis-model
    assets report (the registry holds the model under it)."""
    return one_model_version(
        {key.to_user_string(): _data_version(context, key) for key in AXIS_MODEL_KEYS.values()}
    )


def _data_version(context: dg.AssetExecutionContext, key: dg.AssetKey) -> str | None:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[context.partition_key]), limit=1
    ).records
    return (records[0].event_log_entry.tags or {}).get(DATA_VERSION_TAG) if records else None
