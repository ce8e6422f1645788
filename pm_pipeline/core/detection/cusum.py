"""Scoring in the ``cusum`` mode: one event per alarm, escalated in place, merged per axis.

An event of one channel spans its alarm's excursion from the first sample with ``S > 0``
to the peak of ``S`` (where the shift ended); it is an ERROR when the peak reaches the
ERROR level. Its evidence ``z`` is ``Σu / √n`` over those samples: ``z_mean`` over all of
them, ``z_peak`` the highest over their leading stretches; the p-value is ``P(Z ≥ z_mean)``.
Overlapping events of one axis's channels are one event, with the strongest channel's
evidence.

Scoring streams: per axis, the scored samples after the last point where every channel's
accumulator is 0 (or a data gap) are carried to the next chunk and scored again with it,
so the events equal one pass over the whole file, wherever it is cut. Per-sample scores
depend on the sample alone, except the flat channel's, which carries the previous reading.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.accumulate import alarms
from pm_pipeline.core.detection.base import (
    EventStream,
    ScoredSamples,
    settings_as,
    utc_stamps,
    utc_times,
)
from pm_pipeline.core.detection.conditioning import Predictor, predictor_for
from pm_pipeline.core.detection.cusum_fit import motion_states, raw_scores, repeats, standardised
from pm_pipeline.core.detection.events import EVENT_COLUMNS, sole_contribution
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import CusumSettings
from pm_pipeline.core.model.timeaxis import gap_breaks, seconds_since
from pm_pipeline.core.model.trained import CusumChannel, TrainedModel
from pm_pipeline.core.schema import TIME_COLUMN

SCALE_TOP = 3.0
"""The highest value :meth:`CusumStream.alarm_levels` reports (ERROR is 2)."""


def model_predictor(model: TrainedModel) -> Predictor:
    """The predictor of a cusum model.

    Raises
    ------
    PipelineError
        When the model carries no conditioning (it was stored without it).
    """
    if model.conditioning is None:
        raise PipelineError(
            f"model {model.version or '(unversioned)'} of mode 'cusum' has no stored "
            "conditioning; retrain it."
        )
    return predictor_for(model.conditioning)


class CusumStream(EventStream):
    """Events of a cusum-mode model over time-ordered chunks of readings."""

    def __init__(self, model: TrainedModel) -> None:
        super().__init__()
        self.model = model
        self.params = settings_as(CusumSettings, model.params)
        self.predictor = model_predictor(model)
        self._last_seconds: float | None = None
        self._last_amperes: np.ndarray | None = None
        self._last_segment = 0
        self._previous = {axis: (np.nan, -1) for axis in model.axis_names}
        # A model scores the channels it stores: one fitted before a channel existed
        # scores as it always did.
        self.channels = {axis: tuple(model.axes[axis].cusum or {}) for axis in model.axis_names}
        self._pending = {axis: self._nothing_pending(axis) for axis in model.axis_names}
        self._events: list[pd.DataFrame] = []

    def _nothing_pending(self, axis: str) -> ScoredSamples:
        """No samples, with a score column per channel the axis' model stores."""
        return ScoredSamples.empty(dict.fromkeys(self.channels[axis], "float64"))

    def _score(self, readings: pd.DataFrame, times: pd.Series) -> None:
        for axis, scored in self._chunk_scores(readings, times).items():
            buffer = self._pending[axis].then(scored)
            settled = self._settle(axis, buffer, final=False)
            self._pending[axis] = buffer.rows(slice(settled, None))

    def alarm_levels(self, readings: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Per axis, how near its accumulators are to an alarm after each present reading
        of time-ordered ``readings``: the highest over its channels of ``S / h_alert`` up to
        the ALERT level (1), rising on to 2 at the channel's ERROR level. Columns
        ``timestamp_recorded`` and ``z``; a fresh stream, so the first readings start at 0.
        Capped at :data:`SCALE_TOP`: past ERROR, how far no longer changes the event.
        """
        times = readings[TIME_COLUMN].reset_index(drop=True)
        self._check_order(times)
        out = {}
        for axis, scored in self._chunk_scores(readings, times).items():
            level = np.zeros(len(scored))
            for name, channel in (self.model.axes[axis].cusum or {}).items():
                rows = np.flatnonzero(~np.isnan(scored.columns[name]))
                if not len(rows):
                    continue
                u = scored.columns[name][rows]
                path, _ = alarms(u - channel.reference, scored.segments[rows], channel.h_alert)
                # Between a channel's own samples its accumulator holds its last value.
                last = np.searchsorted(rows, np.arange(len(scored)), side="right") - 1
                held = np.where(last >= 0, path[np.maximum(last, 0)], 0.0)
                level = np.maximum(level, alarm_scale(held, channel))
            stamps = utc_times(scored.times)
            out[axis] = pd.DataFrame({TIME_COLUMN: stamps, "z": np.minimum(level, SCALE_TOP)})
        self._advance(times)
        return out

    def _chunk_scores(self, readings: pd.DataFrame, times: pd.Series) -> dict[str, ScoredSamples]:
        """Per axis, the channel scores of one in-order chunk; carries the segment and
        each axis' previous reading on to the next chunk."""
        seconds = seconds_since(times, self.model.epoch_ts)
        breaks = gap_breaks(seconds, self.model.dt_s, self.params.gap_factor)
        if self._last_seconds is not None:
            breaks[0] = seconds[0] - self._last_seconds > self.params.gap_factor * self.model.dt_s
        segment = self._last_segment + np.cumsum(breaks)
        states = motion_states(readings, self.params)
        amperes = self.predictor.amperes(readings)
        features = self.predictor.features_of(amperes, self._last_amperes)
        self._last_amperes = amperes[-1].copy()
        stamps = utc_stamps(times)
        scored = {
            axis: self._axis_scores(axis, readings, stamps, segment, states[axis], features)
            for axis in self.model.axis_names
        }
        self._last_seconds = float(seconds[-1])
        self._last_segment = int(segment[-1])
        return scored

    def pending_samples(self) -> int:
        return sum(len(scored) for scored in self._pending.values())

    def finish(self) -> list[pd.DataFrame]:
        for axis in self.model.axis_names:
            self._settle(axis, self._pending[axis], final=True)
            self._pending[axis] = self._nothing_pending(axis)
        return [frame for frame in self._events if len(frame)]

    def _axis_scores(
        self,
        axis: str,
        readings: pd.DataFrame,
        stamps: np.ndarray,
        segment: np.ndarray,
        state: tuple[np.ndarray, np.ndarray],
        features: np.ndarray,
    ) -> ScoredSamples:
        channels = self.model.axes[axis].cusum or {}
        clip = self.params.clip
        amperes = readings[axis].to_numpy(dtype="float64")
        present = ~np.isnan(amperes)
        active, quiet = present & state[0], present & state[1]
        residual = self.predictor.residual(axis, amperes[active], features[active])
        previous, previous_segment = self._previous[axis]
        raw = raw_scores(residual, channels["level"], clip)
        raw["idle"] = amperes[quiet] != 0
        raw["flat"] = repeats(amperes, segment, previous, previous_segment)[present]
        rows = {"idle": quiet, "flat": present}
        scores = {}
        for name, channel in channels.items():
            scores[name] = np.full(len(amperes), np.nan)
            scores[name][rows.get(name, active)] = standardised(raw[name], channel, clip)
        if present.any():
            last = int(np.flatnonzero(present)[-1])
            self._previous[axis] = (float(amperes[last]), int(segment[last]))
        return ScoredSamples(
            stamps[present], segment[present], {n: s[present] for n, s in scores.items()}
        )

    def _settle(self, axis: str, buffer: ScoredSamples, final: bool) -> int:
        """Emit the events no later sample can change; how many leading samples settled."""
        n = len(buffer)
        if n == 0:
            return 0
        quiet_after = np.ones(n, dtype=bool)
        found = []
        for name, channel in (self.model.axes[axis].cusum or {}).items():
            rows = np.flatnonzero(~np.isnan(buffer.columns[name]))
            u = buffer.columns[name][rows]
            path, excursions = alarms(u - channel.reference, buffer.segments[rows], channel.h_alert)
            if len(rows):  # the state after each sample: that of the channel's last one
                last = np.searchsorted(rows, np.arange(n), side="right") - 1
                quiet_after &= np.where(last >= 0, path[np.maximum(last, 0)] <= 0, True)
            for excursion in excursions:
                found.append(_channel_event(buffer, rows, u, excursion, channel.h_error))
        # After a row followed by a data gap (or the last row, when finishing) nothing
        # carries on either.
        gap_next = np.r_[buffer.segments[1:] != buffer.segments[:-1], final]
        settled_rows = np.flatnonzero(quiet_after | gap_next)
        cut = int(settled_rows[-1]) + 1 if len(settled_rows) else 0
        kept = [
            event
            for event in found
            if event["first_row"] < cut and event["n_samples"] >= self.params.min_sustain_samples
        ]
        if kept:
            self._events.append(_merge(axis, kept))
        return cut


def alarm_scale(s: np.ndarray, channel: CusumChannel) -> np.ndarray:
    """An accumulator's value on one scale for every channel: ``S / h_alert`` up to the
    ALERT level (1), then linear to 2 at the ERROR level."""
    below = s / channel.h_alert
    above = 1.0 + (s - channel.h_alert) / (channel.h_error - channel.h_alert)
    return np.where(s <= channel.h_alert, below, above)


def _channel_event(
    buffer: ScoredSamples, rows: np.ndarray, u: np.ndarray, excursion, h_error: float
) -> dict:
    samples = u[excursion.start : excursion.peak + 1]
    evidence = np.cumsum(samples) / np.sqrt(np.arange(1, len(samples) + 1))
    return {
        "first_row": int(rows[excursion.start]),
        "start": buffer.times[rows[excursion.start]],
        "end": buffer.times[rows[excursion.peak]],
        "z_mean": float(evidence[-1]),
        "z_peak": float(evidence.max()),
        "n_samples": len(samples),
        "error": excursion.height >= h_error,
    }


def _merge(axis: str, events: list[dict]) -> pd.DataFrame:
    """Overlapping channel events of one axis as one event each, by start time."""
    frame = pd.DataFrame(events).sort_values(["start", "end"], ignore_index=True)
    group = (frame["start"] > frame["end"].cummax().shift()).cumsum()
    strongest = frame.loc[frame.groupby(group)["z_mean"].idxmax()].set_index(group.unique())
    merged = frame.groupby(group).agg(
        start=("start", "min"), end=("end", "max"), z_peak=("z_peak", "max"), error=("error", "any")
    )
    start = utc_times(merged["start"].to_numpy())
    end = utc_times(merged["end"].to_numpy())
    z_mean = strongest["z_mean"].to_numpy(dtype="float64")
    from scipy.special import ndtr  # deferred: see the package docstring

    out = pd.DataFrame(
        {
            "axis": axis,
            "severity": np.where(merged["error"].to_numpy(), "ERROR", "ALERT"),
            "start": start,
            "end": end,
            "duration_s": (end - start).dt.total_seconds().to_numpy(),
            "z_mean": z_mean,
            "z_peak": np.maximum(merged["z_peak"].to_numpy(dtype="float64"), z_mean),
            "p_value": ndtr(-z_mean),  # the normal survival function
            "n_samples": strongest["n_samples"].to_numpy(dtype="int64"),
            "contributions": sole_contribution(axis),
        }
    )
    return out[list(EVENT_COLUMNS)]
