"""The trained model: min-max scaling, per-axis lines and thresholds, identified by a hash.

Time is always measured in seconds from the model's training epoch (the first training
timestamp), stored with the model, so a scored file is placed on the same time axis as the
data the line was fitted on.

A model covers the axes that carry readings in its training window (a 6-axis robot's axes 7
and 8 are blank, so they get no line): :attr:`TrainedModel.axis_names` lists them, and the
scaling, the per-axis models, the version hash and the stored JSON hold only those.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import DetectorSettings, settings_from_dict
from pm_pipeline.core.schema import AXES

MIN_TRAINING_ROWS = 10


@dataclass(frozen=True)
class ChannelModel:
    """robust mode: standardisation and sustain times of one channel (active or idle)."""

    center: float
    scale: float
    sustain_alert: int
    sustain_error: int
    row_count: int
    train_rate_per_h: float


@dataclass(frozen=True)
class CusumChannel:
    """cusum mode: standardisation and thresholds of one channel's accumulator."""

    center: float
    scale: float
    reference: float
    """k: subtracted from each standardised score before it accumulates."""
    h_alert: float
    h_error: float
    row_count: int
    train_rate_per_h: float
    """Events per hour on the training window at ``h_alert`` (extrapolated)."""


@dataclass(frozen=True)
class Conditioning:
    """cusum mode: the training moments that predict one axis from the others.

    ``reference`` holds, per axis, the current (A) of the stored training moments; every
    axis is predicted by its ``neighbours`` nearest moments in the other axes' log current.
    """

    reference: dict[str, list[float]]
    log_offset: dict[str, float]
    """Per axis: amperes added before the log, so a 0 A reading stays finite."""
    feature_center: dict[str, float]
    feature_scale: dict[str, float]
    neighbours: int
    previous: dict[str, list[float]] | None = None
    """Per axis, the current of the reading before each stored moment (the moment itself
    for a training window's first row): the motion's direction as well as its place. Unset
    in models stored before it existed, which predict from one instant as they did."""
    spread_floor: dict[str, float] | None = None
    """Per axis, the least spread (log current) a residual is divided by: residuals are
    scaled by their neighbours' own spread, never below this. Unset in models stored before
    it existed, whose residuals are not scaled."""


@dataclass(frozen=True)
class MspcModel:
    """mspc mode: each monitored channel predicted from the others and the context columns.

    Values are standardised per column (``center``, ``scale``, signs kept); a channel's
    residual from its ridge prediction, over ``residual_scale``, is smoothed by an EWMA of
    ``span`` samples and compared with its ``limit``. The baseline of every smoothed residual
    follows it with a time constant of ``adapt_samples`` samples while nothing alarms.
    """

    method: str
    """How the channels are predicted: ``relations`` (each from the other channels and the
    context columns) or ``level`` (one channel and no context: its own standardised value)."""
    channels: list[str]
    """Monitored channels (axes), which alarm."""
    context: list[str]
    """Context columns used as inputs only."""
    center: dict[str, float]
    scale: dict[str, float]
    weights: dict[str, list[float]]
    """Per channel, the ridge coefficients of its inputs: the other channels in order, then
    the context columns (standardised units)."""
    intercept: dict[str, float]
    residual_scale: dict[str, float]
    limit: dict[str, float]
    """Per channel, the smoothed standardised residual's alarm level (ALERT at 1×)."""
    spread_center: dict[str, float]
    """Per channel, the training mean of ``|u|``: the spread statistic is ``|u|`` less it."""
    spread_limit: dict[str, float]
    """Per channel, the smoothed spread statistic's alarm level."""
    span: int
    adapt_samples: float
    input_range: dict[str, list[float]] | None = None
    """Per column, the lowest and highest standardised training value. A prediction's
    inputs are held inside them, so it never extrapolates past what training saw: a fault
    that takes one channel far out moves that channel's residual, not the others' through
    their predictions. Models stored before 2026-12-06 lack it and predict unclipped."""
    hold: str | None = None
    """Which baselines stand still while an alarm is up: ``statistic`` (each statistic's
    own, while it alarms; the others keep following drift), or None (models stored before
    2026-12-06: every baseline while any statistic alarms)."""
    settle_samples: float | None = None
    """An alarming statistic that has come back by one limit from its furthest excursion
    and then moved less than its limit over this many readings holds a new level: its
    alarm has reported it, the level becomes its baseline, and the way on back towards
    the level before the alarm raises nothing; once the statistic reaches that level again
    it is the baseline once more. None (models stored before it came, late on 2026-12-06):
    an alarming baseline stands still however long a level holds."""
    huber_k: dict[str, float] | None = None
    """Per channel, the level statistic's Huber constant when its average is adaptive (the
    largest |residual| of the training window): a step of the residual from the average
    beyond it passes almost in full. None: a plain EWMA (models stored before 2026-12-07)."""
    adopt_from_hold_start: bool | None = None
    """A level adopted after an alarm is the baseline from the first reading of the span
    over which it held (those readings score against it), not from the span's last.
    None: from the last (models stored before 2026-12-07)."""


@dataclass(frozen=True)
class MinMaxScaling:
    """Per-axis ranges of the current's magnitude, fitted on the training window only (axes
    with readings only)."""

    minimums: dict[str, float]
    maximums: dict[str, float]

    def span(self, axis: str) -> float:
        """Width of the axis' range; a constant axis scales by 1 so it stays finite."""
        width = self.maximums[axis] - self.minimums[axis]
        return width if width > 0 else 1.0

    def scale(self, axis: str, amperes: np.ndarray | pd.Series) -> np.ndarray:
        """Amperes to scaled units (0…1 on the training range) of the current's magnitude.

        Controllers that report signed currents (a UR3's joints) say with the sign which way
        a joint pushes; wear raises the magnitude whichever way it is, so every model works
        on ``|I|`` (for unsigned exports, such as the Kawasaki's, that changes nothing).
        """
        magnitude = np.abs(np.asarray(amperes, dtype="float64"))
        return (magnitude - self.minimums[axis]) / self.span(axis)

    def unscale(self, axis: str, scaled: np.ndarray) -> np.ndarray:
        """Scaled units back to amperes."""
        return np.asarray(scaled, dtype="float64") * self.span(axis) + self.minimums[axis]


@dataclass(frozen=True)
class AxisThresholds:
    """Residual limits of one axis, in scaled units, plus the sustain time."""

    z_alert: float
    z_error: float
    min_c: float
    max_c: float
    sustain_samples: int
    sustain_s: float


@dataclass(frozen=True)
class AxisModel:
    """A fitted line ``scaled = slope · seconds + intercept`` and its residual statistics."""

    axis: str
    slope: float
    intercept: float
    r2: float
    residual_mu: float
    residual_sigma: float
    row_count: int
    thresholds: AxisThresholds
    channels: dict[str, ChannelModel] | None = None
    """robust mode only: the ``active`` and ``idle`` channels."""
    quantum: float = 0.0
    """robust mode only: smallest non-zero scaled reading, the idle spread's floor."""
    cusum: dict[str, CusumChannel] | None = None
    """cusum mode only: the ``level``, ``spread``, ``idle`` and ``flat`` channels."""


@dataclass(frozen=True)
class TrainedModel:
    """Everything needed to score new readings, identified by a content hash."""

    epoch: str
    window_start: str
    window_end: str
    row_count: int
    dt_s: float
    params: DetectorSettings
    scaling: MinMaxScaling
    axes: dict[str, AxisModel]
    version: str = field(default="")
    conditioning: Conditioning | None = None
    """cusum mode only: how each axis is predicted from the others."""
    excluded_row_count: int = 0
    """Readings of the training window left out because they lay inside stored events
    (:mod:`pm_pipeline.core.model.exclusion`); ``row_count`` counts the readings kept."""
    context_names: dict[str, str] | None = None
    """The export column each context channel of the training window was (``context_1`` →
    ``Temperature_J0``), from the robots file's ``context_columns``; unset without any."""
    mspc: MspcModel | None = None
    """mspc mode only: the channels' joint model."""
    selection: str | None = None
    """Why this mode: set when the default mode ``auto`` picked it from the training data
    (see :mod:`pm_pipeline.core.detection.auto`); unset when a mode was asked for."""

    def to_dict(self) -> dict:
        """A JSON-safe dictionary; :func:`model_from_dict` reverses it.

        Fields added later (for the cusum mode, the excluded count) are left out while unset,
        so a model without them has the dictionary, and so the version, it always had.
        """
        content = {**_plain(self), "params": self.params.to_dict()}
        if content["conditioning"] is None:
            del content["conditioning"]
        else:
            for later in ("previous", "spread_floor"):
                if content["conditioning"][later] is None:
                    del content["conditioning"][later]
        if not content["excluded_row_count"]:
            del content["excluded_row_count"]
        if not content["context_names"]:
            del content["context_names"]
        for later in ("mspc", "selection"):
            if content[later] is None:
                del content[later]
        if "mspc" in content:
            for later in (
                "input_range",
                "hold",
                "settle_samples",
                "huber_k",
                "adopt_from_hold_start",
            ):
                if content["mspc"][later] is None:
                    del content["mspc"][later]
        for axis in content["axes"].values():
            if axis["cusum"] is None:
                del axis["cusum"]
        return content

    @property
    def axis_names(self) -> tuple[str, ...]:
        """The axes this model scores, in axis order: those with training readings."""
        return tuple(self.axes)

    @property
    def epoch_ts(self) -> pd.Timestamp:
        return pd.Timestamp(self.epoch)


def _plain(value: Any) -> Any:
    """``dataclasses.asdict``'s dictionaries and lists, without its deep copy of every
    number: a cusum model's stored moments are tens of thousands of floats, and copying them
    one by one took most of the time of hashing a model."""
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: _plain(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, (float, int)) for item in value):
            return type(value)(value)
        return type(value)(_plain(item) for item in value)
    return value


def with_context_names(model: TrainedModel, names: dict[str, str]) -> TrainedModel:
    """``model`` recording which export column each context channel is, versioned again
    (the same model without context keeps its version)."""
    named = replace(model, context_names=dict(names) or None, version="")
    return replace(named, version=model_version(named))


def axis_currents(readings: pd.DataFrame, axes: tuple[str, ...] = AXES) -> np.ndarray:
    """The currents of ``axes`` in amperes, one contiguous float column per axis.

    Built column by column: on the few rows a live feed brings at a time this takes a tenth
    of what selecting the columns as a frame does.
    """
    return np.array([readings[axis].to_numpy(dtype="float64") for axis in axes]).T


def axes_with_data(readings: pd.DataFrame) -> tuple[str, ...]:
    """The axes, in order, with at least one non-blank reading in ``readings``."""
    return tuple(axis for axis in AXES if bool(readings[axis].notna().any()))


def fit_minmax_scaling(readings: pd.DataFrame) -> MinMaxScaling:
    """Fit per-axis min-max ranges, ignoring NaN ("no load") values.

    Only axes with at least one reading get a range; they are the axes a model fitted on
    the same readings covers (a robot with fewer axes leaves the others blank).

    Parameters
    ----------
    readings
        The training readings frame.

    Returns
    -------
    MinMaxScaling

    Raises
    ------
    PipelineError
        When the window holds too few rows, or no axis has a single reading.
    """
    require_rows(readings)
    axes = axes_with_data(readings)
    if not axes:
        raise PipelineError(
            f"no axis has a reading in the training window ({len(readings)} rows, every "
            f"current blank); ingest exports with current values or widen the window."
        )
    # NaN ("no load") is ignored; the ranges are of the magnitude, which is what
    # MinMaxScaling.scale scales.
    magnitudes = np.abs(readings[list(axes)].to_numpy(dtype="float64"))
    minimums = {axis: float(v) for axis, v in zip(axes, np.nanmin(magnitudes, axis=0), strict=True)}
    maximums = {axis: float(v) for axis, v in zip(axes, np.nanmax(magnitudes, axis=0), strict=True)}
    return MinMaxScaling(minimums, maximums)


def model_version(model: TrainedModel, robot_id: str = "") -> str:
    """A short content hash of the robot id, the scaling, coefficients and thresholds.

    Without a robot (a model fitted for a comparison, never registered) the hash is of the
    content alone, as it always was.
    """
    content = model.to_dict()
    content.pop("version", None)
    if robot_id:
        content["robot_id"] = robot_id
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return digest[:12]


def for_robot(model: TrainedModel, robot_id: str) -> TrainedModel:
    """``model`` as ``robot_id``'s: its version hashes the robot in, so two robots trained on
    the same readings never share a version."""
    return TrainedModel(**{**model.__dict__, "version": model_version(model, robot_id)})


def model_from_dict(content: dict) -> TrainedModel:
    """Rebuild a :class:`TrainedModel` from :meth:`TrainedModel.to_dict` output."""
    axes = {
        name: AxisModel(
            **{
                **axis,
                "thresholds": AxisThresholds(**axis["thresholds"]),
                "channels": {k: ChannelModel(**v) for k, v in axis["channels"].items()}
                if axis.get("channels")
                else None,
                "cusum": {k: CusumChannel(**v) for k, v in axis["cusum"].items()}
                if axis.get("cusum")
                else None,
            }
        )
        for name, axis in content["axes"].items()
    }
    return TrainedModel(
        **{
            **content,
            "params": settings_from_dict(content["params"]),
            "scaling": MinMaxScaling(**content["scaling"]),
            "axes": axes,
            "conditioning": Conditioning(**content["conditioning"])
            if content.get("conditioning")
            else None,
            "mspc": MspcModel(**content["mspc"]) if content.get("mspc") else None,
        }
    )


def require_rows(readings: pd.DataFrame) -> None:
    if len(readings) < MIN_TRAINING_ROWS:
        raise PipelineError(
            f"the training window holds {len(readings)} readings; need at least "
            f"{MIN_TRAINING_ROWS}. Ingest an export first or widen the window."
        )
