"""The per-axis current model: min-max scaling, a regression line on time, residual thresholds.

Time is always measured in seconds from the model's training epoch (the first training
timestamp), stored with the model, so a scored file is placed on the same time axis as the
data the line was fitted on.

A model covers the axes that carry readings in its training window (a 6-axis robot's axes 7
and 8 are blank, so they get no line): :attr:`TrainedModel.axis_names` lists them, and the
scaling, the per-axis models, the version hash and the stored JSON hold only those. Fitting
fails with a clear error when no axis has a reading, or when an axis with readings has too
few to fit.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.preprocessing import MinMaxScaler

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.schema import AXES, TIME_COLUMN

MIN_TRAINING_ROWS = 10


MODES = ("robust", "seed")


@dataclass(frozen=True)
class DetectorParams:
    """Settings that turn residuals into thresholds and events.

    ``seed`` is the original recipe (per-sample z, sustain from the 95th percentile of
    training run lengths). ``robust`` (see :mod:`pm_pipeline.core.robust_fit`) separates idle
    from active operation, scores active current over a window of samples with a robust
    scale, and sets the sustain time from a false-alarm budget. Defaults here are the seed's;
    :func:`params_for_mode` gives each mode's own.
    """

    mode: str = "seed"
    z_alert: float = 1.65
    z_error: float = 2.57
    sustain_percentile: float = 95.0
    min_sustain_samples: int = 3
    gap_factor: float = 5.0
    """A step between readings longer than ``gap_factor × dt`` is a data gap: no run spans it."""
    window_samples: int = 48
    """robust: active samples averaged per score (~3 motion cycles of ~16 samples)."""
    min_window_samples: int = 16
    """robust: fewer active samples than this since a data gap give no score yet."""
    idle_window_samples: int = 8
    """robust: idle samples averaged per idle score."""
    z_clip: float = 25.0
    """robust: per-sample active z is clipped to ±z_clip before averaging."""
    false_alarm_budget_per_h: float = 0.01
    """robust: training events per hour, per axis and channel, allowed by the sustain time."""
    min_idle_sustain_samples: int = 4
    max_sustain_samples: int = 200
    merge_gap_samples: int = 4
    """robust: holes of at most this many samples inside a run are filled."""
    idle_other_max: int = 0
    """robust: a row is idle for an axis when at most this many other axes carry current."""


MODE_DEFAULTS: dict[str, dict] = {
    "seed": {},
    "robust": {"mode": "robust", "z_alert": 3.0, "z_error": 4.0, "min_sustain_samples": 16},
}


def params_for_mode(mode: str, **overrides: object) -> DetectorParams:
    """A mode's default settings with ``overrides`` (None values are ignored) on top."""
    if mode not in MODE_DEFAULTS:
        raise PipelineError(f"config: mode {mode!r} is unknown; use one of {', '.join(MODES)}.")
    chosen = {key: value for key, value in overrides.items() if value is not None}
    return DetectorParams(**{**MODE_DEFAULTS[mode], **chosen, "mode": mode})


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
class MinMaxScaling:
    """Per-axis ranges fitted on the training window only (axes with readings only)."""

    minimums: dict[str, float]
    maximums: dict[str, float]

    def span(self, axis: str) -> float:
        """Width of the axis' range; a constant axis scales by 1 so it stays finite."""
        width = self.maximums[axis] - self.minimums[axis]
        return width if width > 0 else 1.0

    def scale(self, axis: str, amperes: np.ndarray | pd.Series) -> np.ndarray:
        """Amperes to scaled units (0…1 on the training range)."""
        return (np.asarray(amperes, dtype="float64") - self.minimums[axis]) / self.span(axis)

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


@dataclass(frozen=True)
class TrainedModel:
    """Everything needed to score new readings, identified by a content hash."""

    epoch: str
    window_start: str
    window_end: str
    row_count: int
    dt_s: float
    params: DetectorParams
    scaling: MinMaxScaling
    axes: dict[str, AxisModel]
    version: str = field(default="")

    def to_dict(self) -> dict:
        """A JSON-safe dictionary; :func:`model_from_dict` reverses it."""
        return asdict(self)

    @property
    def axis_names(self) -> tuple[str, ...]:
        """The axes this model scores, in axis order: those with training readings."""
        return tuple(self.axes)

    @property
    def epoch_ts(self) -> pd.Timestamp:
        return pd.Timestamp(self.epoch)


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
    _require_rows(readings)
    axes = axes_with_data(readings)
    if not axes:
        raise PipelineError(
            f"no axis has a reading in the training window ({len(readings)} rows, every "
            f"current blank); ingest exports with current values or widen the window."
        )
    # scikit-learn's scaler ignores NaN ("no load") when it fits the ranges.
    scaler = MinMaxScaler().fit(readings[list(axes)].to_numpy(dtype="float64"))
    minimums = {axis: float(v) for axis, v in zip(axes, scaler.data_min_, strict=True)}
    maximums = {axis: float(v) for axis, v in zip(axes, scaler.data_max_, strict=True)}
    return MinMaxScaling(minimums, maximums)


def seconds_since(times: pd.Series, epoch: pd.Timestamp) -> np.ndarray:
    """Seconds from the model epoch to each timestamp."""
    return (times - epoch).dt.total_seconds().to_numpy(dtype="float64")


def cadence_seconds(times: pd.Series) -> float:
    """The median step between consecutive readings."""
    steps = times.sort_values().diff().dt.total_seconds().dropna()
    steps = steps[steps > 0]
    return float(steps.median()) if len(steps) else 1.0


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
    _require_rows(readings)
    readings = readings.sort_values(TIME_COLUMN, kind="stable")
    times = readings[TIME_COLUMN]
    epoch = times.iloc[0]
    dt_s = cadence_seconds(times)
    seconds = seconds_since(times, epoch)
    if params.mode == "robust":
        from pm_pipeline.core.robust_fit import fit_robust_axes

        axes = fit_robust_axes(readings.reset_index(drop=True), seconds, scaling, dt_s, params)
    else:
        axes = {
            axis: _fit_axis(axis, seconds, scaling.scale(axis, readings[axis]), dt_s, params)
            for axis in scaling.minimums
        }
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


def _fit_axis(
    axis: str, seconds: np.ndarray, scaled: np.ndarray, dt_s: float, params: DetectorParams
) -> AxisModel:
    present = np.isfinite(scaled)
    x, y = seconds[present].reshape(-1, 1), scaled[present]
    if len(y) < MIN_TRAINING_ROWS:
        raise PipelineError(
            f"column {axis!r}: only {len(y)} non-blank readings in the training window; "
            f"need at least {MIN_TRAINING_ROWS}."
        )
    line = LinearRegression().fit(x, y)
    predicted = line.predict(x)
    residual = y - predicted
    mu, sigma = float(residual.mean()), float(residual.std())
    sigma = sigma if sigma > 0 else 1e-12
    z = (residual - mu) / sigma
    gap = gap_breaks(seconds[present], dt_s, params.gap_factor)
    lengths = run_lengths(z >= params.z_alert, gap)
    sustain = params.min_sustain_samples
    if len(lengths):
        sustain = max(sustain, math.ceil(np.percentile(lengths, params.sustain_percentile)))
    thresholds = AxisThresholds(
        z_alert=params.z_alert,
        z_error=params.z_error,
        min_c=params.z_alert * sigma,
        max_c=params.z_error * sigma,
        sustain_samples=int(sustain),
        sustain_s=float(sustain * dt_s),
    )
    return AxisModel(
        axis=axis,
        slope=float(line.coef_[0]),
        intercept=float(line.intercept_),
        r2=float(r2_score(y, predicted)),
        residual_mu=mu,
        residual_sigma=sigma,
        row_count=int(len(y)),
        thresholds=thresholds,
    )


def gap_breaks(seconds: np.ndarray, dt_s: float, gap_factor: float) -> np.ndarray:
    """True where a reading follows a data gap (a step over ``gap_factor × dt``)."""
    breaks = np.zeros(len(seconds), dtype=bool)
    if len(seconds) > 1:
        breaks[1:] = np.diff(seconds) > gap_factor * dt_s
    return breaks


def run_ids(mask: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Label contiguous True stretches of ``mask`` (split at ``breaks``); -1 outside runs."""
    starts = mask & (np.r_[True, ~mask[:-1]] | breaks) if len(mask) else mask
    ids = np.cumsum(starts) - 1
    return np.where(mask, ids, -1)


def run_lengths(mask: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Lengths, in samples, of each contiguous True stretch of ``mask``."""
    ids = run_ids(mask, breaks)
    return np.bincount(ids[ids >= 0]) if mask.any() else np.array([], dtype=int)


def model_version(model: TrainedModel) -> str:
    """A short content hash of the scaling, coefficients and thresholds."""
    content = model.to_dict()
    content.pop("version", None)
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return digest[:12]


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
            }
        )
        for name, axis in content["axes"].items()
    }
    return TrainedModel(
        **{
            **content,
            "params": DetectorParams(**content["params"]),
            "scaling": MinMaxScaling(**content["scaling"]),
            "axes": axes,
        }
    )


def _require_rows(readings: pd.DataFrame) -> None:
    if len(readings) < MIN_TRAINING_ROWS:
        raise PipelineError(
            f"the training window holds {len(readings)} readings; need at least "
            f"{MIN_TRAINING_ROWS}. Ingest an export first or widen the window."
        )
