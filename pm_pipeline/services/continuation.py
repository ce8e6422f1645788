"""One robot's readings scored as one long pass, a file at a time.

A file is scored together with the stored readings around it: the tail before it (so the
detector's windows are warm and an event open at the end of the previous file is seen from
its start), and the stored readings after it (a file rescored, or landed late, so what it
changes about the next file's first minutes is found too). The events of that pass that reach
into the file or past it are then reconciled with the stored ones
(:mod:`pm_pipeline.db.event_lifecycle`). Everything is keyed by ``robot_id``: robots never
share a tail or an event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Engine, Table

from pm_pipeline.core.detection.base import EventStream
from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.lifecycle import (
    OPEN,
    event_statuses,
    start_no_earlier_than,
    stretch_ends,
)
from pm_pipeline.core.detection.registry import model_detector
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.event_lifecycle import landed_events_overlapping
from pm_pipeline.db.readings import readings_after, readings_before


@dataclass(frozen=True)
class ScoredSpan:
    """The readings one pass decided events for, and those events.

    ``events`` are every event of the pass that ends at or after ``first``, with a
    ``status`` column; stored events of the robot that overlap ``first``…``last`` are
    replaced by them.
    """

    first: pd.Timestamp
    """The file's first reading."""
    file_last: pd.Timestamp
    """The file's last reading."""
    last: pd.Timestamp
    """The last reading scored: the file's, or a later stored one."""
    events: pd.DataFrame
    warmed_from: pd.Timestamp | None
    """The first stored reading replayed before the file, or None when none was."""
    cut_short: bool
    """Stored readings continue right after ``last`` with an event still open there: the
    events after it were found without this file's readings."""


class ContinuingScorer:
    """Scores a file's chunks as the continuation of the robot's stored readings.

    ``push`` the file's chunks in time order (the first one reads the stored tail before
    it), then :meth:`finish`, which scores the stored readings after the file as well.
    Given a connection, it reads inside that connection's transaction (the one storing the
    file's readings).
    """

    def __init__(
        self,
        engine: Engine | Connection,
        table: Table,
        robot_id: str,
        model: TrainedModel,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.engine, self.table, self.robot_id, self.model = engine, table, robot_id, model
        self.progress, self.rows = progress, 0
        self.detector: EventStream = model_detector(model).stream(model)
        self.warmup = model_detector(model).warmup_samples(model)
        self.gap = pd.Timedelta(seconds=model.params.gap_factor * model.dt_s)
        self.first: pd.Timestamp | None = None
        self.last: pd.Timestamp | None = None
        self.warmed_from: pd.Timestamp | None = None
        self._ends: list[pd.Series] = []

    def push(self, readings: pd.DataFrame) -> None:
        """Score one chunk of the file (time-ordered, after the previous one)."""
        if readings.empty:
            return
        if self.first is None:
            first = self.first = readings[TIME_COLUMN].iloc[0]
            tail = self._stored_tail(first)
            if len(tail):
                self.warmed_from = tail[TIME_COLUMN].iloc[0]
                self._push(tail)
        self._push(readings)
        self.last = readings[TIME_COLUMN].iloc[-1]
        self.rows += len(readings)
        if self.progress is not None:
            self.progress(self.rows)

    def finish(self) -> ScoredSpan | None:
        """Score the stored readings after the file and close the pass; None for a file
        without readings."""
        if self.first is None or self.last is None:
            return None
        after = self._stored_after(self.first, self.last)
        self._push(after)
        last = after[TIME_COLUMN].iloc[-1] if len(after) else self.last
        events = events_in_order(self.detector.finish())
        events = events[events["end"] >= self.first].reset_index(drop=True)
        events = self._after_training(events)
        ends = pd.concat(self._ends, ignore_index=True)
        events["status"] = event_statuses(events, stretch_ends(ends, self.gap), self.gap)
        return ScoredSpan(
            self.first, self.last, last, events, self.warmed_from, self._cut_short(events, last)
        )

    def _after_training(self, events: pd.DataFrame) -> pd.DataFrame:
        """The pass's events, none beginning in the model's training window.

        Those readings were never scored: replayed, they only warm the detector up, so an
        event seen to begin in them begins at the first reading after the window (the
        file's first, or an earlier file's, which a feed of files and one file share).
        """
        assert self.first is not None
        window_end = pd.Timestamp(self.model.window_end)
        if self.warmed_from is None or self.warmed_from > window_end or events.empty:
            return events
        following = readings_after(self.engine, self.table, self.robot_id, window_end, 1)
        boundary = self.first
        if len(following):
            boundary = min(boundary, following[TIME_COLUMN].iloc[0])
        return start_no_earlier_than(events, boundary)

    def _push(self, readings: pd.DataFrame) -> None:
        if readings.empty:
            return
        self.detector.push(readings)
        times = readings[TIME_COLUMN]
        # Only the ends of gap-free stretches are kept, with the chunk's last reading.
        self._ends.append(stretch_ends(times, self.gap))

    def _cut_short(self, events: pd.DataFrame, last: pd.Timestamp) -> bool:
        still_open = events[events["status"] == OPEN]
        if still_open.empty:
            return False
        following = readings_after(self.engine, self.table, self.robot_id, last, 1)
        return bool(len(following)) and following[TIME_COLUMN].iloc[0] - last <= self.gap

    def _stored_tail(self, first: pd.Timestamp) -> pd.DataFrame:
        """The stored readings the detector replays before ``first``: its warm-up, and from
        a warm-up before the start of any stored event they reach (so a continued event is
        seen whole, as the pass that stored it saw it)."""
        tail = readings_before(self.engine, self.table, self.robot_id, first, self.warmup)
        if tail.empty:
            return tail
        reached = landed_events_overlapping(
            self.engine, self.robot_id, tail[TIME_COLUMN].iloc[0], first
        )
        if reached.empty:
            return tail
        # A warm-up's worth before the event's start too: the pass that stored it began
        # that far back at least (an event moved to the end of the training window began
        # in the readings before it, see _after_training).
        since = reached["start_ts"].min()
        return readings_before(self.engine, self.table, self.robot_id, first, self.warmup, since)

    def _stored_after(self, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
        """The stored readings after ``last`` the pass covers: a warm-up's worth, and on to
        the end of any stored event they reach (found before this file was scored)."""
        after = readings_after(self.engine, self.table, self.robot_id, last, self.warmup)
        if after.empty:
            return after
        reached = landed_events_overlapping(
            self.engine, self.robot_id, first, after[TIME_COLUMN].iloc[-1]
        )
        until = reached["end_ts"].max() if len(reached) else None
        if until is None or until <= after[TIME_COLUMN].iloc[-1]:
            return after
        return readings_after(
            self.engine, self.table, self.robot_id, last, self.warmup, until + self.gap
        )
