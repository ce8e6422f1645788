"""Streaming scores of the ``seed`` mode: the events of one pass, chunk by chunk.

Seed scores are per sample, so only runs cross a chunk boundary. Each axis holds back its
scored samples from the first one that could still belong to an open run: everything before
the last sample below both z levels, or before the last data gap, is settled and turned into
events at once (no run reaches across such a point, in one pass either).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.base import EventStream
from pm_pipeline.core.detection.seed import axis_events, residual_frame
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.schema import TIME_COLUMN

_KEPT = [TIME_COLUMN, "seconds", "z"]


class SeedStream(EventStream):
    """Events of a seed-mode model over time-ordered chunks of readings.

    ``push`` each chunk in time order, then ``finish``. The events equal those of
    :func:`~pm_pipeline.core.detection.seed.detect_events_seed` over the concatenated
    chunks, whatever the chunk sizes.
    """

    def __init__(self, model: TrainedModel) -> None:
        super().__init__()
        self.model = model
        limits = [model.axes[axis].thresholds for axis in model.axis_names]
        self._lowest = {
            axis: min(fitted.z_alert, fitted.z_error)
            for axis, fitted in zip(model.axis_names, limits, strict=True)
        }
        self._gap_s = model.params.gap_factor * model.dt_s
        self._pending: dict[str, pd.DataFrame] = {axis: pd.DataFrame() for axis in model.axis_names}
        self._events: list[pd.DataFrame] = []

    def push(self, readings: pd.DataFrame) -> None:
        """Score one chunk; its settled events are kept, its open runs carried.

        Raises
        ------
        ReadingsOutOfOrder
            When the chunk is not in time order or starts before the previous chunk ended.
        """
        if readings.empty:
            return
        times = readings[TIME_COLUMN].reset_index(drop=True)
        self._check_order(times)
        for axis in self.model.axis_names:
            scored = residual_frame(self.model, readings, axis)[_KEPT]
            pending = self._pending[axis]
            buffer = pd.concat([pending, scored], ignore_index=True) if len(pending) else scored
            settled = _settled_rows(buffer, self._lowest[axis], self._gap_s)
            self._emit(axis, buffer.iloc[:settled])
            self._pending[axis] = buffer.iloc[settled:].reset_index(drop=True)
        self._advance(times)

    def pending_samples(self) -> int:
        return sum(len(frame) for frame in self._pending.values())

    def finish(self) -> list[pd.DataFrame]:
        for axis in self.model.axis_names:
            self._emit(axis, self._pending[axis])
            self._pending[axis] = pd.DataFrame()
        return [frame for frame in self._events if len(frame)]

    def _emit(self, axis: str, scored: pd.DataFrame) -> None:
        if len(scored):
            self._events.append(axis_events(self.model, self.model.axes[axis], scored))


def _settled_rows(scored: pd.DataFrame, lowest: float, gap_s: float) -> int:
    """How many leading rows no later sample can change: up to and including the last
    sample below both levels (it ends every run), or up to the last data gap."""
    n = len(scored)
    if n == 0:
        return 0
    # Written as "not at or above" so a NaN score ends runs, as it does in one pass.
    below = np.flatnonzero(~(scored["z"].to_numpy() >= lowest))
    after_below = int(below[-1]) + 1 if len(below) else 0
    gaps = np.flatnonzero(np.diff(scored["seconds"].to_numpy()) > gap_s)
    before_gap = int(gaps[-1]) + 1 if len(gaps) else 0
    return max(after_below, before_gap)
