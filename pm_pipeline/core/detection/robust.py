"""Scoring in the ``robust`` mode: one event per anomalous stretch, escalated in place.

Per channel (active, idle), samples with ``z ≥ z_alert`` form runs; holes of at most
``merge_gap_samples`` are filled; runs never cross a data gap and rolling windows restart
after one. A run is an event once it lasts the channel's sustain time. It is an ERROR (the
same event, escalated) when it holds a run at ``z ≥ z_error`` lasting the error sustain
time. Overlapping events of the two channels of one axis are merged.

Scoring streams: :class:`RobustStream` takes time-ordered chunks of any size and gives
the events one pass over the whole file would. Two things cross a chunk boundary, and both
are carried: the last window of samples behind each rolling mean, and the scored samples
after the last *settled* point, where every run of both channels has ended beyond the reach
of hole filling. Everything before that point is turned into events at once; only the open
tail (normally a few samples, at most the longest event in progress) is held.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.base import (
    EventStream,
    ScoredSamples,
    settings_as,
    utc_stamps,
    utc_times,
)
from pm_pipeline.core.detection.robust_fit import (
    CHANNELS,
    fill_holes,
    idle_mask,
    rolling_mean,
    segment_breaks,
    standardise,
)
from pm_pipeline.core.model.params import RobustSettings
from pm_pipeline.core.model.timeaxis import gap_breaks, run_ids, seconds_since
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.schema import TIME_COLUMN


@dataclass(frozen=True)
class _WindowTail:
    """The last samples behind a rolling mean, with their segment ids."""

    values: np.ndarray
    segments: np.ndarray

    @staticmethod
    def empty() -> _WindowTail:
        return _WindowTail(np.array([], dtype="float64"), np.array([], dtype="int64"))

    def roll(
        self, values: np.ndarray, segments: np.ndarray, window: int
    ) -> tuple[np.ndarray, np.ndarray, _WindowTail]:
        """Trailing means of ``values`` as if the carried samples came just before them."""
        joined = np.r_[self.values, values]
        joined_segments = np.r_[self.segments, segments]
        mean, count = rolling_mean(joined, joined_segments, window)
        carried = len(self.values)
        return (
            mean[carried:],
            count[carried:],
            _WindowTail(joined[-window:], joined_segments[-window:]),
        )


@dataclass(frozen=True)
class _AxisTails:
    active: _WindowTail
    idle: _WindowTail


SCORED_COLUMNS = {"idle": "bool", "z": "float64"}
"""A robust stream's own columns of :class:`ScoredSamples`."""


def _frame(scored: ScoredSamples) -> pd.DataFrame:
    return pd.DataFrame(
        {
            TIME_COLUMN: utc_times(scored.times),
            "idle": scored.columns["idle"],
            "z": scored.columns["z"],
            "segment": scored.segments,
        }
    )


class RobustStream(EventStream):
    """Events of a robust-mode model over time-ordered chunks of readings.

    ``push`` each chunk in time order, then ``finish``. The events equal those of one pass
    over the concatenated chunks, whatever the chunk sizes.
    """

    def __init__(self, model: TrainedModel) -> None:
        super().__init__()
        self.model = model
        self.params = settings_as(RobustSettings, model.params)
        self._last_seconds: float | None = None
        self._last_segment = 0
        self._tails = {
            axis: _AxisTails(_WindowTail.empty(), _WindowTail.empty()) for axis in model.axis_names
        }
        self._pending = {axis: ScoredSamples.empty(SCORED_COLUMNS) for axis in model.axis_names}
        self._events: list[pd.DataFrame] = []

    def _score(self, readings: pd.DataFrame, times: pd.Series) -> None:
        params = self.params
        for axis, scored in self._scores(readings, times).items():
            buffer = self._pending[axis].then(scored)
            settled = _settled_rows(buffer, params.z_alert, params.merge_gap_samples)
            self._emit(axis, buffer.rows(slice(None, settled)))
            self._pending[axis] = buffer.rows(slice(settled, None))

    def statistic(self, readings: pd.DataFrame, times: pd.Series) -> dict[str, pd.DataFrame]:
        """Per axis, the score of each present reading of the next in-order chunk (time,
        idle, z, segment), continuing the rolling windows carried from earlier chunks."""
        return {axis: _frame(scored) for axis, scored in self._scores(readings, times).items()}

    def _scores(self, readings: pd.DataFrame, times: pd.Series) -> dict[str, ScoredSamples]:
        model, params = self.model, self.params
        seconds = seconds_since(times, model.epoch_ts)
        breaks = gap_breaks(seconds, model.dt_s, params.gap_factor)
        if self._last_seconds is not None:
            breaks[0] = seconds[0] - self._last_seconds > params.gap_factor * model.dt_s
        segment = self._last_segment + np.cumsum(breaks)
        idle = idle_mask(readings, params.idle_other_max)
        stamps = utc_stamps(times)
        scores = {}
        for axis in model.axis_names:
            scores[axis], self._tails[axis] = _score_axis(
                model,
                params,
                readings,
                stamps,
                seconds,
                segment,
                idle[axis],
                axis,
                self._tails[axis],
            )
        self._last_seconds = float(seconds[-1])
        self._last_segment = int(segment[-1])
        return scores

    def pending_samples(self) -> int:
        """Scored samples held back because a run may still continue (all axes)."""
        return sum(len(frame) for frame in self._pending.values())

    def finish(self) -> list[pd.DataFrame]:
        """Close every open run; per-axis event frames (empty axes left out)."""
        for axis in self.model.axis_names:
            self._emit(axis, self._pending[axis])
            self._pending[axis] = ScoredSamples.empty(SCORED_COLUMNS)
        return [frame for frame in self._events if len(frame)]

    def _emit(self, axis: str, scored: ScoredSamples) -> None:
        # A run needs a sample at the alert level (filling holes only joins such samples);
        # most settled stretches have none, and a live feed settles a few rows at a time.
        if not (scored.columns["z"] >= self.params.z_alert).any():
            return
        parts = [
            _channel_runs(
                self.model,
                self.params,
                axis,
                scored.rows(scored.columns["idle"] == (name == "idle")),
                name,
            )
            for name in CHANNELS
        ]
        parts = [part for part in parts if len(part)]
        if parts:
            self._events.append(_merge_overlaps(pd.concat(parts, ignore_index=True)))


def _score_axis(
    model: TrainedModel,
    params: RobustSettings,
    readings: pd.DataFrame,
    stamps: np.ndarray,
    seconds: np.ndarray,
    segment: np.ndarray,
    idle: np.ndarray,
    axis: str,
    tails: _AxisTails,
) -> tuple[ScoredSamples, _AxisTails]:
    """z of each present reading of one axis, continuing the carried rolling windows."""
    fitted = model.axes[axis]
    # RobustStream took the model only with robust settings, so it has both channels.
    channels = fitted.channels or {}
    scaled = model.scaling.scale(axis, readings[axis])
    present = np.isfinite(scaled)
    z = np.full(len(scaled), np.nan)
    active, quiet = present & ~idle, present & idle
    residual = scaled[active] - (fitted.slope * seconds[active] + fitted.intercept)
    z_sample = np.clip(
        (residual - fitted.residual_mu) / fitted.residual_sigma, -params.z_clip, params.z_clip
    )
    mean, count, active_tail = tails.active.roll(z_sample, segment[active], params.window_samples)
    channel = channels["active"]
    z[active] = standardise(
        mean, count, channel.center, channel.scale, params.window_samples, params.min_window_samples
    )
    i_mean, i_count, idle_tail = tails.idle.roll(
        np.abs(scaled[quiet]), segment[quiet], params.idle_window_samples
    )
    z[quiet] = standardise(
        i_mean, i_count, 0.0, channels["idle"].scale, params.idle_window_samples, 1
    )
    scored = ScoredSamples(
        stamps[present], segment[present], {"idle": idle[present], "z": z[present]}
    )
    return scored, _AxisTails(active_tail, idle_tail)


def _settled_rows(scored: ScoredSamples, z_alert: float, merge_gap: int) -> int:
    """How many leading rows no later sample can change: the last cut point where, in each
    channel, more than ``merge_gap`` quiet samples follow its last alert sample, and time
    moves on (so no event can overlap one on the other side)."""
    n = len(scored)
    if n < 2:
        return 0
    alert = np.nan_to_num(scored.columns["z"], nan=-np.inf) >= z_alert
    idle = scored.columns["idle"]
    cut = np.arange(1, n)  # candidate: rows [0, cut) settle
    closed = np.ones(n - 1, dtype=bool)
    for in_channel in (idle, ~idle):
        positions = np.flatnonzero(in_channel)
        if not len(positions):
            continue
        flags = alert[positions]
        index = np.arange(len(positions))
        last_alert = np.maximum.accumulate(np.where(flags, index, -1))
        quiet_enough = (last_alert < 0) | (index - last_alert > merge_gap)
        before = np.cumsum(in_channel)[:-1]  # channel samples before each cut
        closed &= (before == 0) | quiet_enough[np.maximum(before - 1, 0)]
    closed &= scored.times[1:] > scored.times[:-1]
    candidates = np.flatnonzero(closed)
    return int(cut[candidates[-1]]) if len(candidates) else 0


def _channel_runs(
    model: TrainedModel, params: RobustSettings, axis: str, scored: ScoredSamples, name: str
) -> pd.DataFrame:
    channels = model.axes[axis].channels or {}
    channel = channels[name]
    if not len(scored):
        return pd.DataFrame()
    z = np.nan_to_num(scored.columns["z"], nan=-np.inf)
    segment = scored.segments
    breaks = segment_breaks(segment)
    ids = run_ids(fill_holes(z >= params.z_alert, segment, params.merge_gap_samples), breaks)
    rows = np.flatnonzero(ids >= 0)
    if not len(rows):
        return pd.DataFrame()
    error = fill_holes(z >= params.z_error, segment, params.merge_gap_samples)
    error_ids = run_ids(error, breaks)
    sustained_error = np.zeros(len(z), dtype=bool)
    if error.any():
        lengths = np.bincount(error_ids[error_ids >= 0])
        sustained_error[error_ids >= 0] = lengths[error_ids[error_ids >= 0]] >= (
            channel.sustain_error
        )
    # Run ids are consecutive along the rows, so each run is one slice: reduceat sums it.
    first = np.r_[0, np.flatnonzero(np.diff(ids[rows])) + 1]
    samples = np.diff(np.r_[first, len(rows)])
    # A filled hole has no score of its own; it counts at the alert level.
    z_run = np.where(np.isfinite(z[rows]), np.maximum(z[rows], params.z_alert), params.z_alert)
    keep = samples >= channel.sustain_alert
    if not keep.any():
        return pd.DataFrame()
    times = scored.times
    # Not "axis": that name would clash with the axis argument of DataFrame.agg.
    return pd.DataFrame(
        {
            "start": utc_times(times[rows[first[keep]]]),
            "end": utc_times(times[rows[first[keep] + samples[keep] - 1]]),
            "z_sum": np.add.reduceat(z_run, first)[keep],
            "z_peak": np.maximum.reduceat(z_run, first)[keep],
            "n_samples": samples[keep],
            "error": np.logical_or.reduceat(sustained_error[rows], first)[keep],
            "axis_name": axis,
        }
    )


def _merge_overlaps(runs: pd.DataFrame) -> pd.DataFrame:
    """Union of overlapping runs of one axis (both channels) into single events."""
    runs = runs.sort_values("start", ignore_index=True)
    group = (runs["start"] > runs["end"].cummax().shift()).cumsum()
    merged = runs.groupby(group).agg(
        axis_name=("axis_name", "first"),
        start=("start", "min"),
        end=("end", "max"),
        z_sum=("z_sum", "sum"),
        z_peak=("z_peak", "max"),
        n_samples=("n_samples", "sum"),
        error=("error", "any"),
    )
    z_mean = merged["z_sum"].to_numpy() / merged["n_samples"].to_numpy()
    from scipy.special import ndtr  # deferred: see the package docstring

    return pd.DataFrame(
        {
            "axis": merged["axis_name"].to_numpy(),
            "severity": np.where(merged["error"].to_numpy(), "ERROR", "ALERT"),
            "start": merged["start"].reset_index(drop=True),
            "end": merged["end"].reset_index(drop=True),
            "duration_s": (merged["end"] - merged["start"]).dt.total_seconds().to_numpy(),
            "z_mean": z_mean,
            "z_peak": merged["z_peak"].to_numpy(dtype="float64"),
            "p_value": ndtr(-z_mean),  # the normal survival function
            "n_samples": merged["n_samples"].to_numpy(dtype="int64"),
        }
    )
