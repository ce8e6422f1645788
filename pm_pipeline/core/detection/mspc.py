"""Scoring with an mspc model: smoothed residuals over their limits, a drifting baseline,
and events that name the channels that moved.

Per reading, every channel's standardised residual ``u`` (see
:mod:`pm_pipeline.core.detection.mspc_fit`) enters an EWMA ``e``. Its baseline ``b`` (0 at
training) follows ``e`` with a time constant of ``adapt_samples`` readings while it does not
alarm, and stands still while it does (models stored before 2026-12-06: while any
statistic alarms): slow drift of normal operation is absorbed, a fault is not. An alarm
whose statistic has come back by one limit from its furthest excursion and then holds a
level for ``settle_samples`` readings has reported that level, which becomes its baseline;
the way on back towards the level before the alarm scores 0 until it is reached. A
channel's score is ``|e - b| / limit``; the reading's score is the highest. A reading
alarms when that passes ``z_alert`` (1), and alarms at most
``merge_gap_samples`` quiet readings apart form one event, kept when it holds at least
``min_sustain_samples`` alarming readings. The event's axis is the channel with the largest
summed score over its alarming readings, and ``contributions`` holds every channel's share.

The state (EWMA, baseline, the open event) carries from chunk to chunk, so events are the
same wherever a file is cut. A data gap restarts the EWMA at the baseline and closes the
open event.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.base import (
    EventStream,
    settings_as,
    utc_times,
)
from pm_pipeline.core.detection.events import EVENT_COLUMNS, contributions_json
from pm_pipeline.core.detection.mspc_fit import ewma, ewma_smoothing, residual_steps
from pm_pipeline.core.model.params import MspcSettings
from pm_pipeline.core.model.timeaxis import gap_breaks, seconds_since
from pm_pipeline.core.model.trained import MspcModel, TrainedModel
from pm_pipeline.core.schema import TIME_COLUMN

RETREAT = 1.0
"""How far (in limits) an alarming statistic must come back from its furthest excursion
before a level it then holds may be adopted: the hysteresis of the alarm's end, one limit,
the same step that raised it. A fault that holds or grows never comes back, so it keeps
its alarm and its held baseline."""
P_SCALE = 3.0
"""A score of 1 sits at ``limit_factor`` × the training maximum of the smoothed residual,
which is itself near 3 σ of it: the p-value reads ``z_mean`` as that many 3-σ steps."""


def standardised_residuals(model: MspcModel, readings: pd.DataFrame) -> np.ndarray:
    """Per reading and channel, the residual from the channel's prediction, in training σ
    (NaN where the channel has no reading)."""
    columns = model.channels + model.context
    values = np.column_stack(
        [
            readings[column].to_numpy(dtype="float64")
            if column in readings.columns
            else np.full(len(readings), np.nan)
            for column in columns
        ]
    )
    center = np.array([model.center[column] for column in columns])
    scale = np.array([model.scale[column] for column in columns])
    z = (values - center) / scale
    inputs = np.nan_to_num(z)
    if model.input_range is not None:
        bounds = np.array([model.input_range[column] for column in columns])
        inputs = np.clip(inputs, bounds[:, 0], bounds[:, 1])
    out = np.zeros((len(readings), len(model.channels)))
    for j, channel in enumerate(model.channels):
        others = [k for k in range(len(columns)) if k != j]
        weights = np.asarray(model.weights[channel], dtype="float64")
        predicted = inputs[:, others] @ weights + model.intercept[channel] if others else 0.0
        out[:, j] = (z[:, j] - predicted) / model.residual_scale[channel]
    return out


def statistics(
    model: MspcModel, u: np.ndarray, segment: np.ndarray, previous: np.ndarray | None
) -> np.ndarray:
    """Per reading, each channel's level statistic (its standardised residual ``u``) and
    then each channel's spread statistic (``|Δu|`` less its training mean); both 0 where
    they cannot be formed (a reading with any channel missing, the first after a gap), so
    those neither raise nor lower them. A missing context column counts as its centre."""
    center = np.array([model.spread_center[channel] for channel in model.channels])
    steps = residual_steps(u, segment, previous) - center
    out = np.nan_to_num(np.hstack([u, steps]))
    # A reading with a channel missing predicts the others from a guess: left unscored.
    out[np.isnan(u).any(axis=1)] = 0.0
    return out


class MspcScores:
    """The EWMA and baseline state of one model, advanced over rows of residuals."""

    def __init__(self, model: MspcModel, z_alert: float) -> None:
        self.limit = np.array(
            [model.limit[channel] for channel in model.channels]
            + [model.spread_limit[channel] for channel in model.channels]
        )
        self.lam = ewma_smoothing(model.span)
        count = len(model.channels)
        self.huber_k = (
            None
            if model.huber_k is None
            else np.r_[[model.huber_k[channel] for channel in model.channels], [np.inf] * count]
        )
        self.from_hold_start = bool(model.adopt_from_hold_start)
        self.adapt = 1.0 / max(model.adapt_samples, 1.0)
        self.z_alert = z_alert
        self.ewma = np.zeros(len(self.limit))
        self.baseline = np.zeros(len(self.limit))
        self.hold_each = model.hold == "statistic"
        self.settle = None if model.settle_samples is None else max(int(model.settle_samples), 2)
        self.home = np.full(len(self.limit), np.nan)
        # An alarm that runs on into the next chunk carries its furthest score and its last
        # readings, so a level settles at the same reading wherever a file is cut.
        self.alarm_peak = np.full(len(self.limit), np.nan)
        self.alarm_tail: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # Rows a level adopted from where it began to hold may score again: the last
        # settle − 1, held back from the events until no later reading can change them.
        self.held_back = self.settle - 1 if self.settle is not None and self.from_hold_start else 0
        self.held = np.empty((0, len(self.limit)))

    def advance(self, u: np.ndarray, restart: bool) -> np.ndarray:
        """Per-statistic scores of the rows held back so far and of one gap-free stretch of
        residuals ``u``, less the last ``held_back`` rows, which a level adopted later may
        still score again (see :meth:`flush`); ``restart`` starts the EWMA at the baseline
        (after a data gap)."""
        if restart:
            self.ewma = self.baseline.copy()
            self.alarm_peak[:] = np.nan
            self.alarm_tail.clear()
        e = ewma(u, self.lam, self.ewma, self.huber_k)
        if len(e):
            self.ewma = e[-1].copy()
        ratios = np.vstack([self.held, np.empty_like(e)])
        start = len(self.held)
        # Each statistic holds its own baseline while it alarms; models stored before
        # that hold every baseline while any statistic alarms.
        groups = [[c] for c in range(e.shape[1])] if self.hold_each else [list(range(e.shape[1]))]
        for group in groups:
            done = 0
            while done < len(e):
                done += self._advance_baseline(e[done:, group], ratios, start + done, group)
        released = len(ratios) - min(self.held_back, len(ratios))
        self.held = ratios[released:]
        return ratios[:released]

    def flush(self) -> np.ndarray:
        """The scores of the rows still held back (at the end of the readings)."""
        held, self.held = self.held, self.held[:0]
        return held

    def _advance_baseline(
        self, e: np.ndarray, scored: np.ndarray, start: int, group: list[int]
    ) -> int:
        """Scores of the ``group`` statistics ``e`` into their columns of ``scored`` from row
        ``start`` up to the end of the group's first alarm (or of ``e``); how many rows were
        scored. A baseline moves only on rows where none of its group alarms. A level
        adopted from where it began to hold scores that span again, up to ``held_back``
        rows before ``start``."""
        ratios = scored[start:]
        a, baseline, limit = self.adapt, self.baseline[group], self.limit[group]
        home = self.home[group]
        from scipy.signal import lfilter  # deferred: see the package docstring

        moving, _ = lfilter([a], [1.0, a - 1.0], e, axis=0, zi=[baseline * (1 - a)])
        before = np.vstack([baseline, moving[:-1]])
        free = recovering_distance(e, before, home) / limit
        alarm = np.flatnonzero(free.max(axis=1) > self.z_alert)
        # Back home: the statistic has reached the level it held before an adopted one, so
        # that level is its baseline again and the way back is over.
        crossed = (np.sign(e - home) != np.sign(before - home)) & ~np.isnan(home)
        home_rows = np.flatnonzero(crossed.any(axis=1))
        if len(home_rows) and (not len(alarm) or home_rows[0] < alarm[0]):
            back = int(home_rows[0])
            ratios[: back + 1, group] = free[: back + 1]
            self.baseline[group] = np.where(np.isnan(home), moving[back], home)
            self.home[group] = np.nan
            self.alarm_tail.pop(group[0], None)
            return back + 1
        if not len(alarm):
            ratios[:, group] = free
            self.baseline[group] = moving[-1]
            self.alarm_tail.pop(group[0], None)
            return len(e)
        first = int(alarm[0])
        ratios[: first + 1, group] = free[: first + 1]
        self.baseline[group] = held_baseline = before[first]
        frozen = np.abs(e[first + 1 :] - held_baseline) / limit
        quiet = np.flatnonzero(frozen.max(axis=1) <= self.z_alert)
        held = int(quiet[0]) if len(quiet) else len(frozen)
        ratios[first + 1 : first + 1 + held, group] = frozen[:held]
        if self.settle is None:
            return first + 1 + held
        tail = self.alarm_tail.pop(group[0], None)
        carried = first == 0 and tail is not None
        peak = self.alarm_peak[group] if carried else np.zeros(len(group))
        tail_e, tail_r = tail if tail is not None and carried else (e[:0], free[:0])
        alarm_e = np.vstack([tail_e, e[first : first + 1 + held]])
        alarm_r = np.vstack([tail_r, free[first : first + 1], frozen[:held]])
        settled = settled_row(alarm_e, alarm_r, peak, self.settle, limit)
        if settled is not None:
            # A level held after coming back is reported (this alarm) and adopted; the way
            # on back towards the level before the alarm is recovery, not a new fault.
            end = first + settled - len(tail_e)
            self.home[group] = np.where(np.isnan(home), held_baseline, home)
            self.baseline[group] = e[end]
            self.alarm_peak[group] = np.nan
            if self.from_hold_start:
                # The level held from the span's first reading: the span scores against it.
                span = alarm_e[settled - self.settle + 1 : settled + 1]
                low = start + end - self.settle + 1
                scored[low : start + end + 1, group] = np.abs(span - e[end]) / limit
            return end + 1
        if held == len(frozen):
            self.alarm_peak[group] = np.maximum(peak, alarm_r.max(axis=0))
            keep = self.settle - 1
            self.alarm_tail[group[0]] = (alarm_e[-keep:], alarm_r[-keep:])
        return first + 1 + held


def settled_row(
    e: np.ndarray, ratios: np.ndarray, peak: np.ndarray, window: int, limit: np.ndarray
) -> int | None:
    """The first row of an alarm's statistics ``e`` (scores ``ratios``, ``peak`` its highest
    score before them) that ends ``window`` rows, all at least ``RETREAT`` below the
    alarm's highest score so far, over which every column moved less than its ``limit``
    (a level held after coming back), or None."""
    if len(e) < window:
        return None
    highest = np.maximum.accumulate(np.vstack([peak, ratios]), axis=0)[1:]
    back = (highest - ratios >= RETREAT).all(axis=1)
    moved = np.ptp(np.lib.stride_tricks.sliding_window_view(e, window, axis=0), axis=-1)
    steady = np.lib.stride_tricks.sliding_window_view(back, window, axis=0).all(axis=-1)
    rows = np.flatnonzero((moved < limit).all(axis=1) & steady)
    return int(rows[0]) + window - 1 if len(rows) else None


def recovering_distance(e: np.ndarray, baseline: np.ndarray, home: np.ndarray) -> np.ndarray:
    """|e − baseline|, or, where a ``home`` level (before an adopted one) is kept, the
    distance from ``e`` to the span between the two: a way back home is not a fault."""
    low = np.where(np.isnan(home), baseline, np.minimum(baseline, home))
    high = np.where(np.isnan(home), baseline, np.maximum(baseline, home))
    return np.maximum(np.maximum(e - high, low - e), 0.0)


class MspcStream(EventStream):
    """Events of an mspc-mode model over time-ordered chunks of readings."""

    def __init__(self, model: TrainedModel) -> None:
        super().__init__()
        if model.mspc is None:
            raise ValueError("an mspc stream needs a model fitted in mode mspc")
        self.model, self.joint = model, model.mspc
        self.params = settings_as(MspcSettings, model.params)
        self.scores = MspcScores(self.joint, self.params.z_alert)
        self._last_seconds: float | None = None
        self._segment = 0
        self._previous: np.ndarray | None = None
        self._open: dict | None = None
        self._events: list[dict] = []
        # Rows the scores hold back (see MspcScores.advance): their times, numbers, segments.
        nothing = np.array([], dtype="int64")
        self._held: tuple[np.ndarray, np.ndarray, np.ndarray] = (
            nothing.astype("datetime64[ns]"),
            nothing,
            nothing,
        )

    def channel_scores(
        self, readings: pd.DataFrame, times: pd.Series
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-channel scores of one in-order chunk's rows, with the rows held back from
        earlier chunks first and the rows the scores still hold back left out (see
        :meth:`MspcScores.advance`); and those rows' times, numbers and segments (a new
        segment after every data gap)."""
        seconds = seconds_since(times, self.model.epoch_ts)
        breaks = gap_breaks(seconds, self.model.dt_s, self.params.gap_factor)
        if self._last_seconds is not None:
            breaks[0] = seconds[0] - self._last_seconds > self.params.gap_factor * self.model.dt_s
        self._last_seconds = float(seconds[-1])
        segment = self._segment + np.cumsum(breaks)
        residuals = standardised_residuals(self.joint, readings)
        previous = None if self._previous is None or breaks[0] else self._previous
        u = statistics(self.joint, residuals, segment, previous)
        self._previous = residuals[-1]
        bounds = [*np.flatnonzero(np.r_[True, np.diff(segment) != 0]), len(u)]
        ratios = [
            self.scores.advance(u[low:high], restart=bool(breaks[low]))
            for low, high in itertools.pairwise(bounds)
        ]
        self._segment = int(segment[-1])
        stamps = times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        rows = self.rows + np.arange(len(u))
        return self._release(np.vstack(ratios), stamps, rows, segment)

    def _release(
        self, ratios: np.ndarray, stamps: np.ndarray, rows: np.ndarray, segment: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-channel scores of the released rows ``ratios`` (per statistic) with their
        times, numbers and segments, out of the rows held back and those of this chunk."""
        held_stamps, held_rows, held_segment = self._held
        stamps, rows = np.r_[held_stamps, stamps], np.r_[held_rows, rows]
        segment = np.r_[held_segment, segment]
        count, released = len(self.joint.channels), len(ratios)
        self._held = (stamps[released:], rows[released:], segment[released:])
        per_channel = np.maximum(ratios[:, :count], ratios[:, count:])
        return per_channel, stamps[:released], rows[:released], segment[:released]

    def _score(self, readings: pd.DataFrame, times: pd.Series) -> None:
        self._alarms(*self.channel_scores(readings, times))

    def _alarms(
        self, ratios: np.ndarray, stamps: np.ndarray, rows: np.ndarray, segment: np.ndarray
    ) -> None:
        """Alarming rows into events, and the open event closed once it is over."""
        if not len(ratios):
            return
        score = ratios.max(axis=1)
        for index in np.flatnonzero(score > self.params.z_alert):
            self._alarm_row(int(rows[index]), int(segment[index]), stamps[index], ratios[index])
        if self._open is not None:
            last_row, last_segment = int(rows[-1]), int(segment[-1])
            if self._ends(last_row, last_segment):
                self._close()

    def _ends(self, row: int, segment: int) -> bool:
        """Whether the open event is over by ``row`` (of ``segment``)."""
        assert self._open is not None
        quiet = row - self._open["last_row"] - 1
        return segment != self._open["segment"] or quiet > self.params.merge_gap_samples

    def _alarm_row(self, row: int, segment: int, stamp, ratios: np.ndarray) -> None:
        if self._open is not None and self._ends(row, segment):
            self._close()
        score = float(ratios.max())
        if self._open is None:
            self._open = {"start": stamp, "n": 0, "sum": 0.0, "peak": 0.0, "shares": 0.0}
        event = self._open
        event.update(end=stamp, last_row=row, segment=segment, n=event["n"] + 1)
        event["sum"] += score
        event["peak"] = max(event["peak"], score)
        event["shares"] = event["shares"] + ratios

    def _close(self) -> None:
        event, self._open = self._open, None
        if event is not None and event["n"] >= self.params.min_sustain_samples:
            self._events.append(event)

    def pending_samples(self) -> int:
        return (0 if self._open is None else int(self._open["n"])) + len(self._held[1])

    def _flush(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The rows still held back, released (at the end of the readings)."""
        empty = np.array([], dtype="int64")
        return self._release(self.scores.flush(), empty.astype("datetime64[ns]"), empty, empty)

    def finish(self) -> list[pd.DataFrame]:
        self._alarms(*self._flush())
        self._close()
        if not self._events:
            return []
        return [self._frame(self._events)]

    def _frame(self, events: list[dict]) -> pd.DataFrame:
        channels = self.joint.channels
        shares = [dict(zip(channels, map(float, e["shares"]), strict=True)) for e in events]
        start = utc_times(np.array([e["start"] for e in events]))
        end = utc_times(np.array([e["end"] for e in events]))
        z_mean = np.array([e["sum"] / e["n"] for e in events])
        z_peak = np.array([e["peak"] for e in events])
        from scipy.special import ndtr  # deferred: see the package docstring

        frame = pd.DataFrame(
            {
                "axis": [max(share, key=share.__getitem__) for share in shares],
                "severity": np.where(z_peak >= self.params.z_error, "ERROR", "ALERT"),
                "start": start,
                "end": end,
                "duration_s": (end - start).dt.total_seconds().to_numpy(),
                "z_mean": z_mean,
                "z_peak": z_peak,
                "p_value": ndtr(-P_SCALE * z_mean),
                "n_samples": np.array([e["n"] for e in events], dtype="int64"),
                "contributions": [contributions_json(share) for share in shares],
            }
        )
        return frame[list(EVENT_COLUMNS)]

    def statistic(self, readings: pd.DataFrame) -> dict[str, pd.DataFrame]:
        """Per channel, its score after each reading of time-ordered ``readings`` (a fresh
        stream): columns ``timestamp_recorded`` and ``z``."""
        times = readings[TIME_COLUMN].reset_index(drop=True)
        self._check_order(times)
        ratios = np.vstack([self.channel_scores(readings, times)[0], self._flush()[0]])
        self._advance(times)
        return {
            channel: pd.DataFrame({TIME_COLUMN: times, "z": ratios[:, j]})
            for j, channel in enumerate(self.joint.channels)
        }
