"""Streaming scores of the ``seed`` mode: the events of one pass, chunk by chunk.

Seed scores are per sample, so only runs cross a chunk boundary. Each axis holds back its
scored samples from the first one that could still belong to an open run: everything up to
the last sample below both z levels, or up to the last data gap, is settled and turned into
events at once (no run reaches across such a point in one pass either). A settled stretch
with no sample at either level holds no event and is dropped without building a frame, so
normal operation costs a few array operations per axis and chunk.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.base import EventStream
from pm_pipeline.core.detection.seed import axis_events, line_scores
from pm_pipeline.core.model.timeaxis import run_lengths, seconds_since
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.schema import TIME_COLUMN


class SeedStream(EventStream):
    """Events of a seed-mode model over time-ordered chunks of readings.

    ``push`` each chunk in time order, then ``finish``. The events equal those of
    :func:`~pm_pipeline.core.detection.seed.detect_events_seed` over the concatenated
    chunks, whatever the chunk sizes.
    """

    def __init__(self, model: TrainedModel) -> None:
        super().__init__()
        self.model = model
        self._lowest = {
            axis: min(fitted.thresholds.z_alert, fitted.thresholds.z_error)
            for axis, fitted in model.axes.items()
        }
        self._gap_s = model.params.gap_factor * model.dt_s
        self._pending = {axis: _scored_frame() for axis in model.axis_names}
        self._events: list[pd.DataFrame] = []

    def _score(self, readings: pd.DataFrame, times: pd.Series) -> None:
        seconds = seconds_since(times, self.model.epoch_ts)
        for axis in self.model.axis_names:
            amperes = readings[axis].to_numpy(dtype="float64")
            present = ~np.isnan(amperes)  # a blank reading is "no load": not scored
            z = line_scores(self.model, axis, seconds[present], amperes[present])[3]
            pending = self._pending[axis]
            if pending.empty and not (z >= self._lowest[axis]).any():
                continue  # every run is closed and none starts here
            scored = _scored_frame(times[present], seconds[present], z)
            buffer = pd.concat([pending, scored], ignore_index=True) if len(pending) else scored
            settled = _settled_rows(buffer, self._lowest[axis], self._gap_s)
            self._emit(axis, buffer.iloc[:settled])
            self._pending[axis] = buffer.iloc[settled:].reset_index(drop=True)

    def pending_samples(self) -> int:
        return sum(len(frame) for frame in self._pending.values())

    def finish(self) -> list[pd.DataFrame]:
        for axis in self.model.axis_names:
            self._emit(axis, self._pending[axis])
            self._pending[axis] = _scored_frame()
        return [frame for frame in self._events if len(frame)]

    def _emit(self, axis: str, scored: pd.DataFrame) -> None:
        fitted = self.model.axes[axis]
        # Most settled stretches hold only runs too short to count: skip building frames.
        breaks = np.r_[False, np.diff(scored["seconds"].to_numpy()) > self._gap_s]
        lengths = run_lengths(scored["z"].to_numpy() >= self._lowest[axis], breaks)
        if len(lengths) and lengths.max() >= fitted.thresholds.sustain_samples:
            self._events.append(axis_events(self.model, fitted, scored))


def _scored_frame(
    times: pd.Series | None = None,
    seconds: np.ndarray | None = None,
    z: np.ndarray | None = None,
) -> pd.DataFrame:
    if times is None or seconds is None or z is None:
        return pd.DataFrame({TIME_COLUMN: [], "seconds": [], "z": []})
    return pd.DataFrame({TIME_COLUMN: times.reset_index(drop=True), "seconds": seconds, "z": z})


def _settled_rows(scored: pd.DataFrame, lowest: float, gap_s: float) -> int:
    """How many leading rows no later sample can change: up to and including the last
    sample below both levels (it ends every run), or up to the last data gap."""
    # Written as "not at or above" so a NaN score ends runs, as it does in one pass.
    below = np.flatnonzero(~(scored["z"].to_numpy() >= lowest))
    after_below = int(below[-1]) + 1 if len(below) else 0
    gaps = np.flatnonzero(np.diff(scored["seconds"].to_numpy()) > gap_s)
    before_gap = int(gaps[-1]) + 1 if len(gaps) else 0
    return max(after_below, before_gap)
