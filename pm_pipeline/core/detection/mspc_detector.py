"""The mspc mode behind the one detector interface (see :mod:`pm_pipeline.core.detection.mspc`
for how it scores and :mod:`pm_pipeline.core.detection.mspc_fit` for how it fits)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.base import Detector, DetectorDescription, EventStream
from pm_pipeline.core.detection.mspc import MspcStream
from pm_pipeline.core.detection.mspc_fit import fit_mspc
from pm_pipeline.core.model.params import DetectorSettings, MspcSettings
from pm_pipeline.core.model.timeaxis import gap_breaks
from pm_pipeline.core.model.trained import AxisModel, MinMaxScaling, MspcModel, TrainedModel
from pm_pipeline.core.schema import TIME_COLUMN

WARMUP_CAP = 20_000
"""Most readings replayed to settle the baseline before a file scored alone: about 0.15 s
of scoring, so a fleet's live feed of small files is not held up by replays (5.5 h at 1 s,
70 days at 5 min; a longer time constant settles only partly)."""


class MspcDetector(Detector[MspcSettings]):
    """Every channel predicted from the others and the context; smoothed residuals over
    limits from the training window, on a baseline that follows slow drift."""

    settings_type = MspcSettings
    joint_events = True

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
    ) -> tuple[dict[str, AxisModel], MspcModel]:
        params = self.settings_of(settings)
        segment = np.cumsum(gap_breaks(seconds, dt_s, params.gap_factor))
        return fit_mspc(readings, scaling, dt_s, params, segment)

    def stream(self, model: TrainedModel) -> EventStream:
        return MspcStream(model)

    def statistic(self, model: TrainedModel, readings: pd.DataFrame) -> dict[str, pd.DataFrame]:
        ordered = readings.sort_values(TIME_COLUMN, kind="stable", ignore_index=True)
        return MspcStream(model).statistic(ordered)

    def statistic_levels(self, model: TrainedModel, axis: str) -> tuple[float, float]:
        params = self.settings_of(model.params)
        return params.z_alert, params.z_error

    def warmup_samples(self, model: TrainedModel) -> int:
        # Five spans settle the EWMA; three time constants settle the baseline's drift
        # (to 5%), capped so a file scored alone does not replay more than WARMUP_CAP.
        params, joint = self.settings_of(model.params), model.mspc
        adapt = 3 * int(joint.adapt_samples) if joint is not None else 0
        return min(adapt, WARMUP_CAP) + 5 * params.ewma_span + params.merge_gap_samples

    def injection_run_length(self, model: TrainedModel, axis: str) -> int:
        # Three spans take the EWMA to 95% of a step; the event needs its sustain on top.
        params = self.settings_of(model.params)
        return 3 * params.ewma_span + 2 * params.min_sustain_samples

    def per_sample_level(self, model: TrainedModel, axis: str, z_target: float) -> float:
        # Synthetic readings draw the axis' residual spread; a step of z_target limits of
        # the smoothed residual is z_target × limit of those spreads.
        joint = model.mspc
        return z_target * (joint.limit[axis] if joint is not None else 1.0)

    def describe(self) -> DetectorDescription:
        return DetectorDescription(
            mode=MspcSettings.mode,
            scores=(
                "per channel, the EWMA of its standardised residual from a ridge prediction "
                "by the other channels and the context columns (method 'relations'; one "
                "channel with no context: its own standardised value, method 'level'), "
                "minus a baseline that follows slow drift while nothing alarms, over a limit "
                "from the training window; ALERT at 1, ERROR at 2"
            ),
            axis_fields=("intercept", "residual_sigma", "row_count", "thresholds", "r2"),
            channels=(),
        )
