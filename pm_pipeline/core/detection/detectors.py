"""The detector modes behind :class:`~pm_pipeline.core.detection.base.Detector`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.base import Detector, DetectorDescription, EventStream
from pm_pipeline.core.detection.cusum import CusumStream
from pm_pipeline.core.detection.cusum_fit import CHANNELS as CUSUM_CHANNELS
from pm_pipeline.core.detection.cusum_fit import fit_cusum
from pm_pipeline.core.detection.robust import RobustStream
from pm_pipeline.core.detection.robust_fit import CHANNELS, fit_robust_axes
from pm_pipeline.core.detection.seed import fit_seed_axes, residual_frame
from pm_pipeline.core.detection.seed_stream import SeedStream
from pm_pipeline.core.model.params import (
    CusumSettings,
    DetectorSettings,
    RobustSettings,
    SeedSettings,
)
from pm_pipeline.core.model.trained import AxisModel, Conditioning, MinMaxScaling, TrainedModel
from pm_pipeline.core.schema import TIME_COLUMN

# The fields every mode fits; slope and R² only mean something where a line on time is fitted.
_COMMON_FIELDS = ("intercept", "residual_mu", "residual_sigma", "row_count", "thresholds")


class SeedDetector(Detector[SeedSettings]):
    """The notebook's recipe: per-sample z of the residual against an OLS line on time."""

    settings_type = SeedSettings

    def fit_axes(
        self,
        readings: pd.DataFrame,
        seconds: np.ndarray,
        scaling: MinMaxScaling,
        dt_s: float,
        settings: DetectorSettings,
    ) -> dict[str, AxisModel]:
        return fit_seed_axes(readings, seconds, scaling, dt_s, self.settings_of(settings))

    def stream(self, model: TrainedModel) -> EventStream:
        return SeedStream(model)

    def statistic(self, model: TrainedModel, readings: pd.DataFrame) -> dict[str, pd.DataFrame]:
        return {
            axis: residual_frame(model, readings, axis)[[TIME_COLUMN, "z"]]
            for axis in model.axis_names
        }

    def warmup_samples(self, model: TrainedModel) -> int:
        # Scores stand alone; only a run shorter than the sustain time carries over.
        return max(fitted.thresholds.sustain_samples for fitted in model.axes.values()) + 1

    def injection_run_length(self, model: TrainedModel, axis: str) -> int:
        return max(3 * model.axes[axis].thresholds.sustain_samples, 20)

    def per_sample_level(self, model: TrainedModel, axis: str, z_target: float) -> float:
        # Each sample is scored on its own, so the level is the target.
        return z_target

    def describe(self) -> DetectorDescription:
        return DetectorDescription(
            mode=SeedSettings.mode,
            scores="each reading's residual from a least-squares line on time, in σ",
            axis_fields=("slope", *_COMMON_FIELDS, "r2"),
            channels=(),
        )


class RobustDetector(Detector[RobustSettings]):
    """Idle and active channels; the active one scores a window's robust mean residual."""

    settings_type = RobustSettings
    min_axes = 2

    def fit_axes(
        self,
        readings: pd.DataFrame,
        seconds: np.ndarray,
        scaling: MinMaxScaling,
        dt_s: float,
        settings: DetectorSettings,
    ) -> dict[str, AxisModel]:
        return fit_robust_axes(readings, seconds, scaling, dt_s, self.settings_of(settings))

    def stream(self, model: TrainedModel) -> EventStream:
        return RobustStream(model)

    def statistic(self, model: TrainedModel, readings: pd.DataFrame) -> dict[str, pd.DataFrame]:
        ordered = readings.sort_values(TIME_COLUMN, kind="stable", ignore_index=True)
        scores = RobustStream(model).statistic(ordered, ordered[TIME_COLUMN])
        return {axis: frame[[TIME_COLUMN, "z"]] for axis, frame in scores.items()}

    def warmup_samples(self, model: TrainedModel) -> int:
        # Each channel's window counts only that channel's samples: four windows of rows
        # fill both on a robot that moves a quarter of the time or more.
        params = self.settings_of(model.params)
        windows = 4 * (params.window_samples + params.idle_window_samples)
        return windows + params.max_sustain_samples + params.merge_gap_samples

    def injection_run_length(self, model: TrainedModel, axis: str) -> int:
        sustain = model.axes[axis].thresholds.sustain_samples
        # The window must fill with the raised current before the score reaches the level.
        return self.settings_of(model.params).window_samples + 2 * sustain + 10

    def per_sample_level(self, model: TrainedModel, axis: str, z_target: float) -> float:
        # The score is a window's mean, standardised by that mean's training centre and spread.
        active = (model.axes[axis].channels or {})["active"]
        return z_target * active.scale + active.center

    def describe(self) -> DetectorDescription:
        return DetectorDescription(
            mode=RobustSettings.mode,
            scores=(
                "active rows: the windowed mean of clipped robust residual z around a level; "
                "idle rows: the windowed mean absolute current against its training spread"
            ),
            axis_fields=(*_COMMON_FIELDS, "channels", "quantum"),
            channels=CHANNELS,
        )


class CusumDetector(Detector[CusumSettings]):
    """Accumulated standardised residuals, each axis predicted from the others' currents."""

    settings_type = CusumSettings
    min_axes = 2

    def fit_axes(
        self,
        readings: pd.DataFrame,
        seconds: np.ndarray,
        scaling: MinMaxScaling,
        dt_s: float,
        settings: DetectorSettings,
    ) -> dict[str, AxisModel]:
        return self.fit_parts(readings, seconds, scaling, dt_s, settings)[0]

    def fit_parts(
        self,
        readings: pd.DataFrame,
        seconds: np.ndarray,
        scaling: MinMaxScaling,
        dt_s: float,
        settings: DetectorSettings,
        labelled_normal: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[dict[str, AxisModel], Conditioning | None]:
        return fit_cusum(
            readings, seconds, scaling, dt_s, self.settings_of(settings), labelled_normal
        )

    def stream(self, model: TrainedModel) -> EventStream:
        return CusumStream(model)

    def statistic(self, model: TrainedModel, readings: pd.DataFrame) -> dict[str, pd.DataFrame]:
        # Each channel has its own alarm levels; every accumulator is put on one scale where
        # ALERT is 1 and ERROR 2 (see statistic_levels), and the axis shows its highest.
        ordered = readings.sort_values(TIME_COLUMN, kind="stable", ignore_index=True)
        return CusumStream(model).alarm_levels(ordered)

    def statistic_levels(self, model: TrainedModel, axis: str) -> tuple[float, float]:
        return 1.0, 2.0

    def warmup_samples(self, model: TrainedModel) -> int:
        # Ordinary readings drain an accumulator to 0 within a few of its ERROR levels'
        # worth of samples; the flat channel compares a reading with the previous one.
        # An accumulator at its ERROR level drains by at least its reference value per
        # ordinary sample, so twice that many samples empty every channel of every axis.
        params = self.settings_of(model.params)
        drain = max(
            int(np.ceil(channel.h_error / max(channel.reference, 0.05)))
            for axis in model.axis_names
            for channel in (model.axes[axis].cusum or {}).values()
        )
        runs = max(self.injection_run_length(model, axis) for axis in model.axis_names)
        return max(runs, 2 * drain) + 10 * params.min_sustain_samples

    def injection_run_length(self, model: TrainedModel, axis: str) -> int:
        # A run that clips every level score gains (clip - k) per sample; three times what
        # the ERROR level needs, as the other modes allow.
        params = self.settings_of(model.params)
        level = (model.axes[axis].cusum or {})["level"]
        gain = params.clip - level.reference
        return max(3 * int(np.ceil(level.h_error / gain)), params.min_sustain_samples, 20)

    def per_sample_level(self, model: TrainedModel, axis: str, z_target: float) -> float:
        # Synthetic readings are drawn around the mean active current with its spread; a
        # rise of z_target of those spreads is a large multiplicative rise in the log.
        return z_target

    def describe(self) -> DetectorDescription:
        return DetectorDescription(
            mode=CusumSettings.mode,
            scores=(
                "per channel, the CUSUM of clipped standardised scores: the log current's "
                "residual from its prediction by the other axes, over how far the predicting "
                "moments spread (level; again with a larger "
                "k for short rises: surge), its size (spread) and square (variance), current "
                "while idle (idle), and exactly repeated readings (flat); plotted as the "
                "highest accumulator on a scale where ALERT is 1 and ERROR 2"
            ),
            axis_fields=("intercept", "residual_sigma", "row_count", "thresholds", "cusum"),
            channels=CUSUM_CHANNELS,
        )
