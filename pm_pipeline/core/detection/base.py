"""The one detector interface every mode implements.

A detector fits per-axis models on training readings, scores readings as a stream of
time-ordered chunks (whose events equal one pass over the whole frame, wherever the chunks
are cut), says how strong an injected fault must be to reach a given score (for the
labelled synthetic set), and describes what it scores and which model fields mean
something. :mod:`pm_pipeline.core.detection.registry` maps mode names to detectors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import pandas as pd

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import DetectorSettings
from pm_pipeline.core.model.trained import (
    AxisModel,
    Conditioning,
    MinMaxScaling,
    MspcModel,
    TrainedModel,
)
from pm_pipeline.core.schema import TIME_COLUMN

S = TypeVar("S", bound=DetectorSettings)


class ReadingsOutOfOrder(PipelineError):
    """A chunk starts before the previous one ended: the file must be sorted in memory."""


@dataclass(frozen=True)
class DetectorDescription:
    """What a detector scores, and which parts of its :class:`AxisModel` carry meaning."""

    mode: str
    scores: str
    """One sentence: the statistic compared with the z levels."""
    axis_fields: tuple[str, ...]
    """:class:`AxisModel` fields this mode fits; the others keep neutral values."""
    channels: tuple[str, ...]
    """Names of the per-axis channels (empty when the mode has none)."""


def utc_stamps(times: pd.Series) -> np.ndarray:
    """Time-zone-aware times as plain numpy datetimes in UTC, the form
    :class:`ScoredSamples` carries."""
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()


def utc_times(stamps: np.ndarray) -> pd.Series:
    """Numpy datetimes in UTC (:func:`utc_stamps`) as a time-zone-aware series again."""
    return pd.Series(pd.DatetimeIndex(stamps).tz_localize("UTC"))


@dataclass
class ScoredSamples:
    """Scored samples of one axis carried between chunks, one array per column: time (UTC,
    numpy datetimes), segment, and a detector's own columns by name. Arrays, not a frame: a
    live feed scores a few rows at a time, and frames for them cost more than the scoring."""

    times: np.ndarray
    segments: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    @staticmethod
    def empty(columns: dict[str, str]) -> ScoredSamples:
        """No samples; ``columns`` maps each column's name to its dtype."""
        return ScoredSamples(
            np.array([], dtype="datetime64[us]"),
            np.array([], dtype="int64"),
            {name: np.array([], dtype=dtype) for name, dtype in columns.items()},
        )

    def __len__(self) -> int:
        return len(self.times)

    def then(self, other: ScoredSamples) -> ScoredSamples:
        """These samples followed by ``other``'s."""
        if not len(self):
            return other
        return ScoredSamples(
            np.r_[self.times, other.times],
            np.r_[self.segments, other.segments],
            {name: np.r_[values, other.columns[name]] for name, values in self.columns.items()},
        )

    def rows(self, chosen: slice | np.ndarray) -> ScoredSamples:
        """The samples ``chosen`` (a slice or a boolean mask)."""
        return ScoredSamples(
            self.times[chosen],
            self.segments[chosen],
            {name: values[chosen] for name, values in self.columns.items()},
        )


class EventStream(ABC):
    """Events of one model over time-ordered chunks: ``push`` each, then ``finish``."""

    def __init__(self) -> None:
        self.rows = 0
        self._last_time: pd.Timestamp | None = None

    def push(self, readings: pd.DataFrame) -> None:
        """Score one chunk; settled events are kept, what may still continue is carried.

        Raises
        ------
        ReadingsOutOfOrder
            When the chunk is not in time order or starts before the previous chunk ended.
        """
        if readings.empty:
            return
        times = readings[TIME_COLUMN].reset_index(drop=True)
        self._check_order(times)
        self._score(readings, times)
        self._advance(times)

    @abstractmethod
    def _score(self, readings: pd.DataFrame, times: pd.Series) -> None:
        """Score one non-empty, in-order chunk whose times are ``times``."""

    @abstractmethod
    def finish(self) -> list[pd.DataFrame]:
        """Close every open run; per-axis event frames (empty ones may be left out)."""

    @abstractmethod
    def pending_samples(self) -> int:
        """Scored samples held back because a run may still continue (all axes)."""

    def _check_order(self, times: pd.Series) -> None:
        """Raise :class:`ReadingsOutOfOrder` unless ``times`` continues the stream in order."""
        if not times.is_monotonic_increasing or (
            self._last_time is not None and times.iloc[0] < self._last_time
        ):
            raise ReadingsOutOfOrder(
                f"readings run backwards near row {self.rows + 1}; they are sorted in memory"
            )

    def _advance(self, times: pd.Series) -> None:
        self.rows += len(times)
        self._last_time = times.iloc[-1]


def settings_as(kind: type[S], settings: DetectorSettings) -> S:
    """``settings`` as the settings class ``kind``; a PipelineError if it is another mode's."""
    if not isinstance(settings, kind):
        raise PipelineError(
            f"settings of mode {settings.mode!r} reached the {kind.mode!r} detector; look "
            "the detector up by the model's mode."
        )
    return settings


class Detector(ABC, Generic[S]):
    """One detector mode: fit, stream, injection strength and description."""

    settings_type: type[S]
    min_axes: int = 1
    """Fewest axes with readings the mode can model (``pm-pipeline train`` checks it first)."""
    joint_events: bool = False
    """Whether an event spans every channel (one multivariate statistic per reading), so
    faults on two axes at once are one event naming both. The synthetic verification set
    then gives every injected run its own stretch of readings (see
    :func:`pm_pipeline.core.simulation.synthetic.generate_synthetic_test_data`)."""

    def settings_of(self, settings: DetectorSettings) -> S:
        """``settings`` as this mode's settings class.

        Raises
        ------
        PipelineError
            When the settings (or a stored model) belong to another mode.
        """
        return settings_as(self.settings_type, settings)

    @abstractmethod
    def fit_axes(
        self,
        readings: pd.DataFrame,
        seconds: np.ndarray,
        scaling: MinMaxScaling,
        dt_s: float,
        settings: DetectorSettings,
    ) -> dict[str, AxisModel]:
        """Per-axis models from time-ordered training readings (index 0…n-1).

        Parameters
        ----------
        readings
            Canonical training readings, sorted by time.
        seconds
            Seconds since the model epoch, per row.
        scaling
            Min-max ranges of the same readings; its axes are the axes modelled.
        dt_s
            Median cadence.
        settings
            This mode's settings.
        """

    def fit_parts(
        self,
        readings: pd.DataFrame,
        seconds: np.ndarray,
        scaling: MinMaxScaling,
        dt_s: float,
        settings: DetectorSettings,
        labelled_normal: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[dict[str, AxisModel], Conditioning | MspcModel | None]:
        """Per-axis models and, for a mode that predicts axes from each other, how it does
        (see :meth:`fit_axes` for the other parameters).

        ``labelled_normal`` holds, per axis, True for the rows inside a stretch of it that
        an engineer labelled ``false-alarm``. A mode whose thresholds a budget on the
        training window sets uses it to allow what was called normal (``cusum``); the others
        fit as without it (the seed recipe is held quiet after fitting:
        :func:`~pm_pipeline.core.feedback.calibration.quiet_on_labelled_normal`)."""
        return self.fit_axes(readings, seconds, scaling, dt_s, settings), None

    @abstractmethod
    def stream(self, model: TrainedModel) -> EventStream:
        """A fresh stream that scores readings with ``model``."""

    @abstractmethod
    def statistic(self, model: TrainedModel, readings: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Per modelled axis, the score compared with :meth:`statistic_levels` at each of its
        present readings: columns ``timestamp_recorded`` and ``z``, in time order."""

    def statistic_levels(self, model: TrainedModel, axis: str) -> tuple[float, float]:
        """The ALERT and ERROR levels that :meth:`statistic` is compared with on ``axis``."""
        limits = model.axes[axis].thresholds
        return limits.z_alert, limits.z_error

    @abstractmethod
    def warmup_samples(self, model: TrainedModel) -> int:
        """Readings before a point that a fresh stream needs to score from that point on as
        one long pass would: its windows filled, and a run not yet long enough to be an
        event seen whole. A run that is already an event is replayed from its start."""

    @abstractmethod
    def injection_run_length(self, model: TrainedModel, axis: str) -> int:
        """Samples an injected run needs for the detector to report it once."""

    @abstractmethod
    def per_sample_level(self, model: TrainedModel, axis: str, z_target: float) -> float:
        """Per-sample residual level (in σ of the axis' residuals) that scores ``z_target``."""

    @abstractmethod
    def describe(self) -> DetectorDescription:
        """What this detector scores and which model fields mean something."""
