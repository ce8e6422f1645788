"""Holding a retrained model quiet on what the engineer labelled normal.

Putting a false alarm's readings back into training is not enough for a detector whose
threshold is a share of its own training excursions. The ``seed`` recipe's sustain time is
the 95th percentile of its training runs above ``z_alert``: whatever goes into training, the
longest 5% of its runs (of at least ``min_sustain_samples``) are events, so a model retrained
with its false alarms back in raises as many events on those very readings as before (on the
Kawasaki export, 120 on the labelled readings where the first model raised 78).

A label is stronger evidence than the percentile: the engineer looked at the stretch and
called it normal. So the retrained model is held to no event there: on each axis with an
event labelled ``false-alarm`` in the training window, the sustain time rises past the
longest run above ``z_alert`` that touches one, and nowhere else. A fault on that axis then
has to outlast the longest excursion the engineer called normal. (A ``new-normal`` label
says something else: the robot changed from there on. Its effect is the new baseline the
model trains from; the event itself is the change, and holding the model quiet on the
change would deafen a model trained on little more than it.)

The ``cusum`` recipe allows the labelled shift when it is fitted
(:mod:`pm_pipeline.core.detection.cusum_fit`: on each such axis, its reference k rises by the
labelled stretch's mean score), for a reason of its own: its thresholds come from a
false-alarm budget on the training window, which the readings put back lift over the
labelled stretch, but a shift that persists accumulates past any threshold. ``robust``
(sustain times from a budget on the training window) and ``mspc`` (its limit above the
largest smoothed residual of the training window, which does not accumulate) are fitted as
before: readings back in training lift them over what was labelled (docs/loop.md measures
what each mode's labels buy).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.seed import residual_frame
from pm_pipeline.core.feedback.labels import FALSE_ALARM
from pm_pipeline.core.model.exclusion import flagged_rows, widened_spans
from pm_pipeline.core.model.timeaxis import gap_breaks, run_ids
from pm_pipeline.core.model.trained import TrainedModel, model_version
from pm_pipeline.core.schema import TIME_COLUMN

CALIBRATED_MODES = ("seed",)
"""Modes whose thresholds are a share of their own training excursions, held quiet after
fitting (``cusum`` allows labelled shifts while fitting: :func:`labelled_rows`)."""
LABELLED_NORMAL_ATTR = "labelled_normal"
"""Key of ``DataFrame.attrs`` on a training window: the labelled-normal spans inside it, as
``[axis, start, end]`` (ISO 8601), kept when the frame is stored as Parquet between steps."""


def labelled_normal_spans(
    newest: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """The spans (``axis``, ``start_ts``, ``end_ts``) of events whose newest label is
    ``false-alarm`` and that overlap ``[start, end]``.

    Parameters
    ----------
    newest
        A robot's :func:`~pm_pipeline.core.feedback.labels.newest_labels`.
    """
    if newest.empty:
        return pd.DataFrame(columns=["axis", "start_ts", "end_ts"])
    normal = newest[
        (newest["label"] == FALSE_ALARM)
        & (newest["event_start"] <= end)
        & (newest["event_end"] >= start)
    ]
    return pd.DataFrame(
        {
            "axis": normal["axis"].astype(str),
            "start_ts": normal["event_start"],
            "end_ts": normal["event_end"],
        }
    ).reset_index(drop=True)


def with_labelled_normal(readings: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """``readings`` (a training window) carrying ``spans`` (:func:`labelled_normal_spans`)
    for :func:`pm_pipeline.core.detection.registry.fit_model`."""
    readings.attrs[LABELLED_NORMAL_ATTR] = [
        [str(axis), pd.Timestamp(start).isoformat(), pd.Timestamp(end).isoformat()]
        for axis, start, end in zip(spans["axis"], spans["start_ts"], spans["end_ts"], strict=True)
    ]
    return readings


def labelled_normal_of(readings: pd.DataFrame) -> pd.DataFrame:
    """The spans :func:`with_labelled_normal` put on ``readings`` (none for a frame it never
    saw)."""
    rows = readings.attrs.get(LABELLED_NORMAL_ATTR) or []
    return pd.DataFrame(
        {
            "axis": pd.Series([row[0] for row in rows], dtype=object),
            "start_ts": pd.to_datetime([row[1] for row in rows], utc=True, format="ISO8601"),
            "end_ts": pd.to_datetime([row[2] for row in rows], utc=True, format="ISO8601"),
        }
    )


def labelled_rows(readings: pd.DataFrame, normal: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per axis with a labelled-normal span, True for the rows of ``readings`` inside one
    of that axis' spans (bounds included); no entry for any other axis.

    Parameters
    ----------
    readings
        The training window, canonical columns.
    normal
        :func:`labelled_normal_spans` of the robot (:func:`labelled_normal_of` the window).
    """
    return {
        str(axis): flagged_rows(readings[TIME_COLUMN], widened_spans(spans, pd.Timedelta(0)))
        for axis, spans in normal.groupby("axis", sort=True)
    }


def quiet_on_labelled_normal(
    model: TrainedModel, readings: pd.DataFrame, normal: pd.DataFrame
) -> TrainedModel:
    """``model`` with each axis' sustain time past the longest run above its ALERT level
    that touches a labelled-normal span of that axis in ``readings`` (its training window).

    Parameters
    ----------
    model
        A model fitted on ``readings``.
    readings
        The training window, canonical columns.
    normal
        :func:`labelled_normal_spans` of the robot.

    Returns
    -------
    TrainedModel
        ``model`` itself when its mode calibrates to a false-alarm budget (see the module's
        docstring) or no axis needs it; else a copy with the raised sustain times and its
        own version.
    """
    if model.params.mode not in CALIBRATED_MODES or normal.empty or readings.empty:
        return model
    axes = dict(model.axes)
    for axis, fitted in model.axes.items():
        longest = _longest_labelled_run(model, readings, normal[normal["axis"] == axis], axis)
        if longest >= fitted.thresholds.sustain_samples:
            samples = longest + 1
            thresholds = replace(
                fitted.thresholds, sustain_samples=samples, sustain_s=float(samples * model.dt_s)
            )
            axes[axis] = replace(fitted, thresholds=thresholds)
    if axes == model.axes:
        return model
    quieter = replace(model, axes=axes)
    return replace(quieter, version=model_version(quieter))


def _longest_labelled_run(
    model: TrainedModel, readings: pd.DataFrame, spans: pd.DataFrame, axis: str
) -> int:
    """Samples of the longest run of ``axis`` at or above its ALERT level that has a reading
    inside one of ``spans``; 0 when none does."""
    if spans.empty:
        return 0
    scored = residual_frame(model, readings, axis)
    breaks = gap_breaks(scored["seconds"].to_numpy(), model.dt_s, model.params.gap_factor)
    ids = run_ids(scored["z"].to_numpy() >= model.axes[axis].thresholds.z_alert, breaks)
    inside = flagged_rows(scored[TIME_COLUMN], widened_spans(spans, pd.Timedelta(0)))
    touched = np.unique(ids[inside & (ids >= 0)])
    if not len(touched):
        return 0
    return int(np.bincount(ids[ids >= 0])[touched].max())
