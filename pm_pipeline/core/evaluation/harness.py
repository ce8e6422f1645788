"""The detection harness: many faults, several splits and seeds, whole files and a live feed.

For every split of the readings into a training and a scored part, each detector mode is
trained once on the training part and scores:

* the clean scored part: every event there is a false alarm (no fault is known in it);
* for every planned fault (:mod:`pm_pipeline.core.simulation.wear`), a slice of the scored
  part from an hour before the fault to half an hour after it, with the fault injected.
  The slice is scored whole, as a live feed (chunks of ``feed_rows`` readings pushed into
  one stream, the state carried from chunk to chunk), and chunk by chunk with a fresh
  stream per chunk (each file alone). Time to detect is found by scoring ever longer
  prefixes of the slice: the first reading after which an event overlaps the fault.

Faults are planned per split, seed and kind, on the axes with readings in turn, where the
kind can show (see :func:`pm_pipeline.core.simulation.wear.placeable`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.registry import detect_events, fit_model, stream_events
from pm_pipeline.core.model.params import DetectorSettings
from pm_pipeline.core.model.trained import TrainedModel, axes_with_data, fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.faults import robot_idle
from pm_pipeline.core.simulation.wear import KINDS, placeable

WARM_UP = pd.Timedelta(minutes=60)
AFTER = pd.Timedelta(minutes=30)


@dataclass(frozen=True)
class Split:
    """Training and scored parts as shares of the readings' time span."""

    name: str
    train: tuple[float, float]
    scored: tuple[float, float]


SPLITS = (
    Split("train 0-50%, score 50-100%", (0.0, 0.5), (0.5, 1.0)),
    Split("train 0-70%, score 70-100%", (0.0, 0.7), (0.7, 1.0)),
    Split("train 30-100%, score 0-30%", (0.3, 1.0), (0.0, 0.3)),
    Split("train 50-100%, score 0-50%", (0.5, 1.0), (0.0, 0.5)),
)


@dataclass(frozen=True)
class Fault:
    """One planned fault."""

    kind: str
    axis: str
    start: pd.Timestamp
    end: pd.Timestamp
    seed: int


def part(readings: pd.DataFrame, shares: tuple[float, float]) -> pd.DataFrame:
    """The readings between two shares of their time span."""
    times = readings[TIME_COLUMN]
    span = times.iloc[-1] - times.iloc[0]
    low, high = times.iloc[0] + span * shares[0], times.iloc[0] + span * shares[1]
    inside = (times >= low) & ((times < high) if shares[1] < 1 else (times <= high))
    return readings[inside].reset_index(drop=True)


def plan_faults(
    scored: pd.DataFrame,
    seed: int,
    per_kind: int,
    offset: int = 0,
    kinds: Iterable[str] | None = None,
) -> list[Fault]:
    """``per_kind`` faults of every kind (or of ``kinds``), placed where the kind can show.

    Parameters
    ----------
    scored
        The scored part.
    seed
        Seed of the draws (start, duration, sizes).
    per_kind
        Faults per kind.
    offset
        Shifts the axis each fault goes to, so seeds and splits cover every axis.
    kinds
        Only these kinds; each keeps the draws and axis it has among all kinds, so a
        smaller run scores the same faults.
    """
    chosen = set(KINDS if kinds is None else kinds)
    axes = axes_with_data(scored)
    times = scored[TIME_COLUMN].reset_index(drop=True)
    seconds = (times - times.iloc[0]).dt.total_seconds().to_numpy()
    moving = np.r_[0, np.cumsum(~robot_idle(scored))]
    faults = []
    for number, (kind, spec) in enumerate(KINDS.items()):
        if kind not in chosen:
            continue
        rng = np.random.default_rng([seed, number])
        for i in range(per_kind):
            minutes = rng.uniform(*spec.minutes)
            ends = np.searchsorted(seconds, seconds + minutes * 60, side="right")
            share = (moving[ends] - moving[: len(seconds)]) / np.maximum(
                ends - np.arange(len(seconds)), 1
            )
            fits = seconds + minutes * 60 <= seconds[-1]
            candidates = np.flatnonzero(fits & placeable(share, spec.needs))
            if not len(candidates):
                continue
            start = times.iloc[int(rng.choice(candidates))]
            axis = axes[(offset + number + i) % len(axes)]
            end = start + pd.Timedelta(minutes=minutes)
            faults.append(Fault(kind, axis, start, end, int(rng.integers(0, 2**31))))
    return faults


def hits(events: pd.DataFrame, fault: Fault) -> pd.DataFrame:
    """Events on the fault's axis that overlap its window."""
    return events[
        (events["axis"] == fault.axis)
        & (events["start"] <= fault.end)
        & (events["end"] >= fault.start)
    ]


def fed(model: TrainedModel, readings: pd.DataFrame, rows: int, carried: bool) -> pd.DataFrame:
    """Events of ``readings`` fed as files of ``rows`` readings: into one stream
    (``carried``), or each into a fresh stream, as scoring each file alone does."""
    frames, stream = [], stream_events(model)
    for first in range(0, len(readings), rows):
        if not carried:
            stream = stream_events(model)
        stream.push(readings.iloc[first : first + rows])
        if not carried:
            frames.extend(stream.finish())
    if carried:
        frames = stream.finish()
    return events_in_order(frames)


def confirmed_at(
    model: TrainedModel, readings: pd.DataFrame, fault: Fault, found: pd.DataFrame
) -> pd.Timestamp:
    """The first reading after which an event overlaps the fault (the fault is caught);
    ``found`` are the events that overlap it when all ``readings`` are scored."""
    times = readings[TIME_COLUMN]
    low = int(times.searchsorted(fault.start))
    # By the end of the first event found, that event is known.
    high = max(int(times.searchsorted(found["end"].min(), side="right")) - 1, low)
    while low < high:
        middle = (low + high) // 2
        if len(hits(detect_events(model, readings.iloc[: middle + 1]), fault)):
            high = middle
        else:
            low = middle + 1
    return times.iloc[high]


def score_fault(
    models: dict[str, TrainedModel], scored: pd.DataFrame, fault: Fault, feed_rows: int
) -> list[dict]:
    """One row per mode: whether and how the fault was caught."""
    times = scored[TIME_COLUMN]
    window = scored[(times >= fault.start - WARM_UP) & (times <= fault.end + AFTER)]
    window = window.reset_index(drop=True)
    rng = np.random.default_rng(fault.seed)
    injected, onset = KINDS[fault.kind].inject(window, fault.axis, fault.start, fault.end, rng)
    hours = (window[TIME_COLUMN].iloc[-1] - window[TIME_COLUMN].iloc[0]).total_seconds() / 3600
    rows = []
    for mode, model in models.items():
        events = detect_events(model, injected)
        found = hits(events, fault)
        caught = bool(len(found))
        delay = (
            (confirmed_at(model, injected, fault, found) - onset).total_seconds()
            if caught
            else None
        )
        rows.append(
            {
                "mode": mode,
                "kind": fault.kind,
                "axis": fault.axis,
                "start": fault.start,
                "caught": caught,
                "caught_live": bool(len(hits(fed(model, injected, feed_rows, True), fault))),
                "caught_alone": bool(len(hits(fed(model, injected, feed_rows, False), fault))),
                "detect_s": max(delay, 0.0) if delay is not None else np.nan,
                "end_error_s": abs((found["end"].max() - fault.end).total_seconds())
                if caught
                else np.nan,
                "other_events": len(events) - len(found),
                "hours": hours,
            }
        )
    return rows


def run_harness(
    readings: pd.DataFrame,
    detectors: Mapping[str, DetectorSettings],
    seeds: Iterable[int],
    per_kind: int = 1,
    splits: Iterable[Split] = SPLITS,
    feed_rows: int = 250,
    progress: Callable[[str], None] | None = None,
    kinds: Iterable[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every split, seed and fault (of every kind, or of ``kinds``), for every detector (a
    name and its settings).

    Returns
    -------
    tuple
        One row per fault and mode (:func:`score_fault`), and one row per split and mode
        with the false events on the clean scored part (``events``, ``hours``).
    """
    faults, clean = [], []
    kinds = None if kinds is None else tuple(kinds)
    for number, split in enumerate(splits):
        train, scored = part(readings, split.train), part(readings, split.scored)
        scaling = fit_minmax_scaling(train)
        models = {name: fit_model(train, scaling, chosen) for name, chosen in detectors.items()}
        hours = (scored[TIME_COLUMN].iloc[-1] - scored[TIME_COLUMN].iloc[0]).total_seconds()
        for mode, model in models.items():
            events = detect_events(model, scored)
            clean.append(
                {"split": split.name, "mode": mode, "events": len(events), "hours": hours / 3600}
            )
        for seed in seeds:
            planned = plan_faults(scored, seed, per_kind, seed + 3 * number, kinds)
            for fault in planned:
                for row in score_fault(models, scored, fault, feed_rows):
                    faults.append({"split": split.name, "seed": seed, **row})
            if progress is not None:
                progress(f"{split.name}, seed {seed}: {len(planned)} faults")
    return pd.DataFrame(faults), pd.DataFrame(clean)
