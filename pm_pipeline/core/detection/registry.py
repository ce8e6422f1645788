"""The detector modes behind one entry point: fit a model, detect its events."""

from __future__ import annotations

import pandas as pd

from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.robust import detect_events_robust
from pm_pipeline.core.detection.robust_fit import fit_robust_axes
from pm_pipeline.core.detection.seed import detect_events_seed, fit_seed_axes
from pm_pipeline.core.model.params import DetectorParams
from pm_pipeline.core.model.timeaxis import cadence_seconds, seconds_since
from pm_pipeline.core.model.trained import MinMaxScaling, TrainedModel, model_version, require_rows
from pm_pipeline.core.schema import TIME_COLUMN


def fit_model(
    readings: pd.DataFrame, scaling: MinMaxScaling, params: DetectorParams
) -> TrainedModel:
    """Fit one least-squares line per axis and derive its thresholds.

    Parameters
    ----------
    readings
        Training readings, canonical columns, UTC timestamps.
    scaling
        Ranges fitted on the same readings; its axes are the axes modelled.
    params
        Threshold settings.

    Returns
    -------
    TrainedModel
        With ``version`` set to the content hash.

    Raises
    ------
    PipelineError
        When the window or one of the scaled axes holds too few readings.
    """
    require_rows(readings)
    readings = readings.sort_values(TIME_COLUMN, kind="stable")
    times = readings[TIME_COLUMN]
    epoch = times.iloc[0]
    dt_s = cadence_seconds(times)
    seconds = seconds_since(times, epoch)
    fit_axes = fit_robust_axes if params.mode == "robust" else fit_seed_axes
    axes = fit_axes(readings.reset_index(drop=True), seconds, scaling, dt_s, params)
    model = TrainedModel(
        epoch=epoch.isoformat(),
        window_start=times.iloc[0].isoformat(),
        window_end=times.iloc[-1].isoformat(),
        row_count=len(readings),
        dt_s=dt_s,
        params=params,
        scaling=scaling,
        axes=axes,
    )
    return TrainedModel(**{**model.__dict__, "version": model_version(model)})


def detect_events(model: TrainedModel, readings: pd.DataFrame) -> pd.DataFrame:
    """Score every axis of ``readings`` and return its events, ordered by start time."""
    detect = detect_events_robust if model.params.mode == "robust" else detect_events_seed
    return events_in_order(detect(model, readings))
