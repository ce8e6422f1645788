"""Detector modes by name, and the two things every caller does: fit a model, find events.

This is the one place that turns a mode name into behaviour; everything else asks the
detector it is given (:class:`~pm_pipeline.core.detection.base.Detector`).
"""

from __future__ import annotations

import pandas as pd

from pm_pipeline.core.detection.auto import chosen_settings
from pm_pipeline.core.detection.base import Detector, EventStream
from pm_pipeline.core.detection.detectors import CusumDetector, RobustDetector, SeedDetector
from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.mspc_detector import MspcDetector
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.feedback.calibration import (
    labelled_normal_of,
    labelled_rows,
    quiet_on_labelled_normal,
)
from pm_pipeline.core.model.params import MODES, DetectorSettings
from pm_pipeline.core.model.timeaxis import cadence_seconds, seconds_since
from pm_pipeline.core.model.trained import (
    MinMaxScaling,
    MspcModel,
    TrainedModel,
    model_version,
    require_rows,
)
from pm_pipeline.core.schema import TIME_COLUMN

DETECTORS: dict[str, Detector] = {
    "robust": RobustDetector(),
    "seed": SeedDetector(),
    "cusum": CusumDetector(),
    "mspc": MspcDetector(),
}


def detector_for(mode: str) -> Detector:
    """The detector of ``mode``.

    Raises
    ------
    PipelineError
        When ``mode`` is not a known detector mode.
    """
    if mode not in DETECTORS:
        raise PipelineError(f"config: mode {mode!r} is unknown; use one of {', '.join(MODES)}.")
    return DETECTORS[mode]


def model_detector(model: TrainedModel) -> Detector:
    """The detector that fitted ``model`` and scores with it."""
    return detector_for(model.params.mode)


def stream_events(model: TrainedModel) -> EventStream:
    """A fresh stream scoring time-ordered chunks with ``model``, whatever its mode."""
    return model_detector(model).stream(model)


def fit_model(
    readings: pd.DataFrame,
    scaling: MinMaxScaling,
    settings: DetectorSettings,
    excluded_rows: int = 0,
) -> TrainedModel:
    """Fit one least-squares line per axis and derive its thresholds.

    Parameters
    ----------
    readings
        Training readings, canonical columns, UTC timestamps.
    scaling
        Ranges fitted on the same readings; its axes are the axes modelled.
    settings
        The detector mode's settings; the mode picks the detector (``auto`` picks a mode
        from the readings first, and the model records which and why).
    excluded_rows
        Readings of the window left out before fitting (they lay inside stored events);
        recorded with the model.

    The stretches an engineer labelled false alarms, which the training window carries
    (:func:`~pm_pipeline.core.feedback.calibration.with_labelled_normal`), raise no event
    with the model: the ``cusum`` fit allows them (see
    :mod:`~pm_pipeline.core.detection.cusum_fit`), the seed recipe is held quiet on them
    (:func:`~pm_pipeline.core.feedback.calibration.quiet_on_labelled_normal`).

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
    labelled_normal = labelled_normal_of(readings)
    readings = readings.sort_values(TIME_COLUMN, kind="stable")
    times = readings[TIME_COLUMN]
    epoch = times.iloc[0]
    dt_s = cadence_seconds(times)
    seconds = seconds_since(times, epoch)
    settings, selection = chosen_settings(readings, tuple(scaling.minimums), settings)
    detector = detector_for(settings.mode)
    readings = readings.reset_index(drop=True)
    axes, joint = detector.fit_parts(
        readings, seconds, scaling, dt_s, settings, labelled_rows(readings, labelled_normal)
    )
    model = TrainedModel(
        epoch=epoch.isoformat(),
        window_start=times.iloc[0].isoformat(),
        window_end=times.iloc[-1].isoformat(),
        row_count=len(readings),
        dt_s=dt_s,
        params=settings,
        scaling=scaling,
        axes=axes,
        conditioning=None if isinstance(joint, MspcModel) else joint,
        excluded_row_count=int(excluded_rows),
        mspc=joint if isinstance(joint, MspcModel) else None,
        selection=selection,
    )
    model = quiet_on_labelled_normal(model, readings, labelled_normal)
    return TrainedModel(**{**model.__dict__, "version": model_version(model)})


def detect_events(model: TrainedModel, readings: pd.DataFrame) -> pd.DataFrame:
    """Score every axis of ``readings`` (in any order) and return its events by start time."""
    stream = stream_events(model)
    stream.push(readings.sort_values(TIME_COLUMN, kind="stable").reset_index(drop=True))
    return events_in_order(stream.finish())
