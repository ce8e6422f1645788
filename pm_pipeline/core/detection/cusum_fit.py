"""Fitting the ``cusum`` detector mode: four accumulators per axis, each with its own budget.

Per axis, every reading feeds the channels it belongs to, as a standardised score ``u``
(clipped to ``±clip``):

* **level** (rows where at least two other axes move): the residual of the axis' log
  current from its prediction by the other axes
  (:mod:`pm_pipeline.core.detection.conditioning`), divided by how far the neighbours that
  predict it spread (floored at ``spread_floor_share`` of the axis' residual MAD, when that
  is set), then centred and scaled by its training median and MAD. Wear that raises the
  current ×1.3 moves it by about 0.3–0.7.
* **spread** (same rows): the absolute level score, against its training mean and spread;
  it rises with jitter.
* **idle** (rows where no other axis moves): 1 when the axis draws current, against the
  training rate of that.
* **flat** (every reading): 1 when a non-zero reading repeats the previous one exactly, as
  a stuck sensor does, against the training rate of that.

Each channel accumulates ``u - k`` in an upper CUSUM (:mod:`pm_pipeline.core.detection.accumulate`).
Its alarm level is set per axis from the training window: the highest excursions are fitted
with an exponential tail and the level is where the rate falls to
``false_alarm_budget_per_h``; never below ``z_alert² / 4k``, which makes every event's
evidence (``Σu / √n``) at least ``z_alert``. ERROR needs ``error_factor`` times that level
and at least ``z_error² / 4k``.

Stretches an engineer labelled false alarms (``labelled_normal``, rows per axis) are normal
shifts by the label's word, and a budget on the training window does not make them so: the
threshold it sets lifts over the labelled stretch (its excursion is among the training
window's), but a shift that persists accumulates without bound and alarms again later, after
longer than the labelled stretch lasted (on the program switch of docs/loop.md, the
retrained model was quiet on the labelled hour and flagged the same shift 4 times in the next
four hours). So on an axis with such rows, each channel's reference k rises by the mean
score over them, when that is positive: k is the allowance half-way between the normal mean
and the shifted mean to catch, and the label says the normal mean reaches that far. Its
alarm level stays the budget's (so the channel flags less than without the label; a level
set from the budget again with the larger k, on a window mostly of the old normal, fell to a
third and split the shift into short events), lifted, as the seed recipe is held quiet,
past the highest excursion that touches a labelled row. Every other axis, and every model
trained without labels, is fitted as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.accumulate import (
    excursion_heights,
    lindley_by_segment,
    segment_starts,
    threshold_for_budget,
)
from pm_pipeline.core.detection.conditioning import fit_conditioning, over_spread, predictor_for
from pm_pipeline.core.detection.robust_fit import moving_axes, others_at_most, robust_sigma
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import CusumSettings
from pm_pipeline.core.model.timeaxis import gap_breaks
from pm_pipeline.core.model.trained import (
    MIN_TRAINING_ROWS,
    AxisModel,
    AxisThresholds,
    Conditioning,
    CusumChannel,
    MinMaxScaling,
)

CHANNELS = ("level", "spread", "surge", "variance", "idle", "flat")
ACTIVE_CHANNELS = ("level", "spread", "surge", "variance")
"""The channels scored on the rows where other axes move, all from the level residual."""


def references(params: CusumSettings) -> dict[str, float]:
    """The reference value k of each channel the settings fit (a channel whose k is None
    is not fitted)."""
    chosen = {
        "level": params.level_reference,
        "spread": params.spread_reference,
        "surge": params.surge_reference,
        "variance": params.variance_reference,
        "idle": params.state_reference,
        "flat": params.state_reference,
    }
    return {name: k for name, k in chosen.items() if k is not None}


def raw_scores(residual: np.ndarray, level: CusumChannel, clip: float) -> dict[str, np.ndarray]:
    """The unstandardised inputs of the moving-row channels from the level residual:
    the residual itself (level, surge), and the clipped level score's size (spread) and
    square (variance)."""
    z = standardised(residual, level, clip)
    return {
        "level": residual,
        "spread": np.abs(z),
        "surge": residual,
        "variance": z**2,
    }


def motion_states(
    readings: pd.DataFrame, params: CusumSettings
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per axis, the rows of the level and spread channels (at least two *other* axes move)
    and of the idle channel (at most ``idle_other_max`` other axes move).

    Two, not one: a stuck or offset axis that reads non-zero at standstill would otherwise
    make every other axis look as if it moved while reading 0 A.
    """
    moving = moving_axes(readings)
    one_other = others_at_most(moving, 1)
    idle = others_at_most(moving, params.idle_other_max)
    return {axis: (~one_other[axis], idle[axis]) for axis in idle}


def repeats(
    amperes: np.ndarray, segment: np.ndarray, previous: float, previous_segment: int
) -> np.ndarray:
    """True where a present, non-zero reading equals the axis' previous present reading of
    the same segment (``previous`` carries the one before the first row; NaN for none)."""
    present = np.flatnonzero(~np.isnan(amperes))
    values = amperes[present]
    before = np.r_[previous, values[:-1]] if len(values) else values
    before_segment = np.r_[previous_segment, segment[present][:-1]] if len(values) else values
    same = (values == before) & (values != 0) & (before_segment == segment[present])
    out = np.zeros(len(amperes), dtype=bool)
    out[present[same]] = True
    return out


def fit_cusum(
    readings: pd.DataFrame,
    seconds: np.ndarray,
    scaling: MinMaxScaling,
    dt_s: float,
    params: CusumSettings,
    labelled_normal: Mapping[str, np.ndarray] | None = None,
) -> tuple[dict[str, AxisModel], Conditioning]:
    """Fit the conditioning and the four channels of every axis on training readings.

    Parameters
    ----------
    readings
        Canonical readings, sorted by time, index 0…n-1.
    seconds
        Seconds since the model epoch, per row.
    scaling
        Min-max ranges of the same readings; its axes are the axes modelled.
    dt_s
        Median cadence.
    params
        ``cusum`` settings.
    labelled_normal
        Per axis, True for the rows inside a stretch of that axis labelled ``false-alarm``
        (see the module's docstring); an axis without any is fitted as without labels.

    Returns
    -------
    tuple
        One :class:`AxisModel` per axis (``cusum`` set) and the shared :class:`Conditioning`.

    Raises
    ------
    PipelineError
        When fewer than two axes have readings, or an axis has too few moving readings.
    """
    axes = tuple(scaling.minimums)
    if len(axes) < 2:
        raise PipelineError(
            f"mode 'cusum' predicts each axis from the others, and only {', '.join(axes)} has "
            "readings in the training window; train with mode 'seed', or on a window where "
            "more axes carry readings."
        )
    states = motion_states(readings, params)
    moving = np.nan_to_num(readings[list(axes)].to_numpy(dtype="float64"), nan=0.0) != 0
    conditioning, stored = fit_conditioning(
        readings, axes, moving.sum(axis=1) >= 2, params.reference_rows, params.neighbours
    )
    predictor = predictor_for(conditioning)
    features = predictor.features(readings)
    floors = {}
    # A stored moment is not its own neighbour: the training residuals stay honest.
    reference_rows = np.full(len(readings), -1)
    reference_rows[stored] = np.arange(len(stored))
    segment = np.cumsum(gap_breaks(seconds, dt_s, params.gap_factor))
    hours = max((seconds[-1] - seconds[0]) / 3600.0, 1e-9)
    models = {}
    for axis in axes:
        amperes = readings[axis].to_numpy(dtype="float64")
        active = ~np.isnan(amperes) & states[axis][0]
        quiet = ~np.isnan(amperes) & states[axis][1]
        if active.sum() < max(MIN_TRAINING_ROWS, 10 * params.neighbours):
            raise PipelineError(
                f"column {axis!r}: only {int(active.sum())} readings while the robot moves in "
                "the training window; widen the window."
            )
        residual, spread = predictor.residual_parts(
            axis, amperes[active], features[active], reference_rows[active]
        )
        if params.spread_floor_share is not None:
            floors[axis] = params.spread_floor_share * robust_sigma(residual)
            residual = over_spread(residual, spread, floors[axis])
        raw = {
            "level": residual,
            "idle": (np.nan_to_num(amperes, nan=0.0) != 0)[quiet],
            "flat": repeats(amperes, segment, np.nan, -1)[~np.isnan(amperes)],
        }
        segments = {
            "level": segment[active],
            "idle": segment[quiet],
            "flat": segment[~np.isnan(amperes)],
        }
        labelled = (labelled_normal or {}).get(axis)
        normal = None
        if labelled is not None and labelled.any():
            normal = {
                "level": labelled[active],
                "idle": labelled[quiet],
                "flat": labelled[~np.isnan(amperes)],
            }
        for name in ACTIVE_CHANNELS:
            segments[name] = segments["level"]
            if normal is not None:
                normal[name] = normal["level"]
        models[axis] = _axis_model(
            axis, raw, segments, scaling, amperes[active], hours, dt_s, params, normal
        )
    if params.spread_floor_share is not None:
        conditioning = replace(conditioning, spread_floor=floors)
    return models, conditioning


def standardised(raw: np.ndarray, channel: CusumChannel, clip: float) -> np.ndarray:
    """Clipped standardised scores of one channel."""
    return np.clip((raw - channel.center) / channel.scale, -clip, clip)


def _axis_model(
    axis: str,
    raw: dict[str, np.ndarray],
    segments: dict[str, np.ndarray],
    scaling: MinMaxScaling,
    active_amperes: np.ndarray,
    hours: float,
    dt_s: float,
    params: CusumSettings,
    normal: dict[str, np.ndarray] | None = None,
) -> AxisModel:
    k = references(params)
    centers, scales = {}, {}
    centers["level"], scales["level"] = float(np.median(raw["level"])), robust_sigma(raw["level"])
    level = CusumChannel(centers["level"], scales["level"], 0.0, 0.0, 0.0, 0, 0.0)
    raw.update(raw_scores(raw["level"], level, params.clip))
    centers["surge"], scales["surge"] = centers["level"], scales["level"]
    for name in ("spread", "variance"):
        centers[name], scales[name] = float(np.mean(raw[name])), _spread(raw[name])
    for name in ("idle", "flat"):
        # A rate seen 0 times in n is taken as about 1/(2n), never as 0.
        p = (float(np.sum(raw[name])) + 0.5) / (len(raw[name]) + 1)
        centers[name], scales[name] = p, float(np.sqrt(p * (1 - p)))
    channels = {}
    for name in (name for name in CHANNELS if name in k):
        u = np.clip((raw[name] - centers[name]) / scales[name], -params.clip, params.clip)
        floor = params.z_alert**2 / (4 * k[name])
        heights = excursion_heights(u - k[name], segments[name])
        h_alert, rate = threshold_for_budget(heights, hours, params.false_alarm_budget_per_h, floor)
        reference = k[name]
        labelled = normal[name] if normal is not None and normal[name].any() else None
        if labelled is not None:
            # The allowance rises by the labelled shift; the level stays the budget's, so
            # the channel flags less than it would without the label.
            reference += max(float(np.mean(u[labelled])), 0.0)
            h_alert = max(h_alert, _labelled_height(u - reference, segments[name], labelled))
        h_error = max(params.error_factor * h_alert, params.z_error**2 / (4 * k[name]))
        channels[name] = CusumChannel(
            centers[name], scales[name], reference, h_alert, h_error, len(u), rate
        )
    return _with_limits(axis, channels, scaling, active_amperes, dt_s, params)


def _labelled_height(increments: np.ndarray, segment: np.ndarray, labelled: np.ndarray) -> float:
    """Just over the highest ``S`` of an excursion with a labelled sample, so that none
    reaches an alarm level of this or more (0 when no labelled sample is in one)."""
    s = lindley_by_segment(increments, segment)
    positive = s > 0
    begins = np.zeros(len(s), dtype=bool)
    begins[segment_starts(segment)] = True
    excursion = np.cumsum(positive & (begins | np.r_[True, ~positive[:-1]])) * positive
    touched = np.unique(excursion[labelled & positive])
    if not len(touched):
        return 0.0
    highest = np.zeros(int(excursion.max()) + 1)
    np.maximum.at(highest, excursion, s)
    return float(np.nextafter(highest[touched].max(), np.inf))


def _spread(values: np.ndarray) -> float:
    spread = float(np.std(values))
    return spread if spread > 0 else 1.0


def _with_limits(
    axis: str,
    channels: dict[str, CusumChannel],
    scaling: MinMaxScaling,
    active_amperes: np.ndarray,
    dt_s: float,
    params: CusumSettings,
) -> AxisModel:
    """The axis model; its line and limits describe the level channel in scaled units."""
    scaled = scaling.scale(axis, np.nan_to_num(active_amperes, nan=0.0))
    level = channels["level"]
    mean = float(np.mean(scaled))
    # MinC/MaxC: the rise of the mean active current (scaled) the level channel is tuned
    # for (a log shift of 2k σ), and twice that; sustain: samples such a rise needs to
    # reach the ALERT level (h / k).
    rise = float(np.exp(2 * level.reference * level.scale) - 1)
    sustain = int(np.ceil(level.h_alert / level.reference))
    limits = AxisThresholds(
        z_alert=params.z_alert,
        z_error=params.z_error,
        min_c=mean * rise,
        max_c=mean * float(np.exp(4 * level.reference * level.scale) - 1),
        sustain_samples=sustain,
        sustain_s=float(sustain * dt_s),
    )
    return AxisModel(
        axis=axis,
        slope=0.0,
        intercept=mean,
        r2=0.0,
        residual_mu=0.0,
        residual_sigma=max(float(np.std(scaled)), 1e-12),
        row_count=len(scaled),
        thresholds=limits,
        cusum=channels,
    )
