"""Faults planted in machines that run on (no idle): rises, falls, noise, broken relations,
wear ramps, and the slow drift that must not alarm.

Sizes are in σ of the channel's training readings, so one table reads the same for a
current, a pressure or a temperature. A planted fault is *caught* when an event overlaps
it and names its channel among the contributors; time to detect runs from its onset (a
ramp's onset is where it has risen one σ, and only events from then on count) to the
first such event's start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.evaluation.robots import hours_of_readings
from pm_pipeline.core.model.params import DetectorSettings
from pm_pipeline.core.model.trained import TrainedModel, axes_with_data, fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN

KINDS = ("rise", "fall", "noise", "relation")


@dataclass(frozen=True)
class Planted:
    """One planted fault: kind, channel, where, and its size in σ."""

    kind: str
    channel: str
    start: pd.Timestamp
    end: pd.Timestamp
    size: float


def plant(readings: pd.DataFrame, fault: Planted, sigma: float) -> pd.DataFrame:
    """A copy of ``readings`` with ``fault`` in it (``sigma``: the channel's training σ).

    ``rise``/``fall`` shift the channel by ±size σ; ``noise`` adds white noise of size σ;
    ``relation`` replays the channel's own readings from an hour earlier (its level and
    spread stay, its relation to the other channels breaks); ``ramp`` adds a line rising
    by size σ per hour from the start, held after the end.
    """
    out = readings.copy()
    times = out[TIME_COLUMN]
    inside = times.between(fault.start, fault.end).to_numpy()
    values = out[fault.channel].to_numpy(dtype="float64").copy()
    if fault.kind in ("rise", "fall"):
        values[inside] += (1 if fault.kind == "rise" else -1) * fault.size * sigma
    elif fault.kind == "noise":
        rng = np.random.default_rng(int(inside.argmax()))
        values[inside] += fault.size * sigma * rng.standard_normal(int(inside.sum()))
    elif fault.kind == "relation":
        earlier = readings.set_index(TIME_COLUMN)[fault.channel]
        shifted = earlier.reindex(times[inside] - pd.Timedelta(hours=1), method="nearest")
        values[inside] = shifted.to_numpy()
    elif fault.kind == "ramp":
        hours = (times - fault.start).dt.total_seconds().to_numpy() / 3600.0
        end_hours = (fault.end - fault.start).total_seconds() / 3600.0
        values += np.clip(hours, 0.0, end_hours) * fault.size * sigma
    else:
        raise ValueError(f"unknown fault kind {fault.kind!r}")
    out[fault.channel] = values
    return out


RAMP_NOMINAL = 1.0
"""σ a ramp must have risen before an event counts as catching it: within one σ it is
inside the channel's normal spread, and an event there is the detector's own noise."""


def onset(fault: Planted, nominal: float = RAMP_NOMINAL) -> pd.Timestamp:
    """When the fault reaches its nominal size: at once, or for a ramp (size σ per hour)
    when it has risen ``nominal`` σ."""
    if fault.kind != "ramp":
        return fault.start
    return fault.start + pd.Timedelta(hours=nominal / fault.size)


def caught_by(events: pd.DataFrame, fault: Planted) -> pd.DataFrame:
    """Events that overlap ``fault`` (a ramp: from its :func:`onset` on) and name its
    channel among their contributors."""
    overlapping = events[(events["end"] >= onset(fault)) & (events["start"] <= fault.end)]
    names = [fault.channel in json.loads(str(text)) for text in overlapping["contributions"]]
    return overlapping[np.asarray(names, dtype=bool)]


def training_sigma(train: pd.DataFrame) -> dict[str, float]:
    """Each channel's σ over the training readings."""
    return {axis: float(train[axis].std()) for axis in axes_with_data(train)}


def fault_rows(
    train: pd.DataFrame,
    scored: pd.DataFrame,
    settings: Mapping[str, DetectorSettings],
    faults: list[Planted],
) -> pd.DataFrame:
    """One row per mode and planted fault: caught, minutes to detect, false events (events
    that miss the fault) per hour of readings; each fault planted alone in ``scored``."""
    sigma = training_sigma(train)
    models = {name: fit_model(train, fit_minmax_scaling(train), s) for name, s in settings.items()}
    cadence = float(scored[TIME_COLUMN].diff().dt.total_seconds().median())
    hours = hours_of_readings(scored[TIME_COLUMN], cadence)
    rows = []
    for fault in faults:
        planted = plant(scored, fault, sigma[fault.channel])
        for name, model in models.items():
            rows.append({"mode": name, **_scored_fault(model, planted, fault, hours)})
    return pd.DataFrame(rows)


def _scored_fault(model: TrainedModel, planted: pd.DataFrame, fault: Planted, hours: float):
    events = detect_events(model, planted)
    hits = caught_by(events, fault)
    first = hits["start"].min() if len(hits) else None
    delay = max((first - onset(fault)).total_seconds() / 60.0, 0.0) if first is not None else None
    return {
        "kind": fault.kind,
        "channel": fault.channel,
        "size": fault.size,
        "caught": bool(len(hits)),
        "minutes_to_detect": delay,
        "false_per_h": (len(events) - len(hits)) / hours if hours else float("nan"),
    }


def slow_series(days: float, cadence_s: float, seed: int) -> pd.DataFrame:
    """One temperature reading every ``cadence_s`` seconds: a daily cycle of ±2 °C around
    40 °C with sensor noise of 0.2 °C, as a one-channel machine's readings (``axis_1``)."""
    rng = np.random.default_rng(seed)
    count = int(days * 86400 / cadence_s)
    times = pd.Timestamp("2026-01-05", tz="UTC") + pd.to_timedelta(
        np.arange(count) * cadence_s, unit="s"
    )
    hours = np.arange(count) * cadence_s / 3600.0
    temperature = 40.0 + 2.0 * np.sin(2 * np.pi * hours / 24.0) + 0.2 * rng.standard_normal(count)
    frame = pd.DataFrame({TIME_COLUMN: times, "axis_1": temperature})
    for axis in range(2, 9):
        frame[f"axis_{axis}"] = np.nan
    return frame


def spread_faults(
    scored: pd.DataFrame,
    channels: list[str],
    size: float,
    minutes: float,
    kinds: tuple[str, ...] = KINDS,
) -> list[Planted]:
    """One fault of each kind on each channel, spread evenly over the scored readings (by
    reading, so none falls in a data gap)."""
    times = scored[TIME_COLUMN].reset_index(drop=True)
    slots = len(channels) * len(kinds)
    faults = []
    for i, channel in enumerate(channels):
        for k, kind in enumerate(kinds):
            start = times.iloc[int(len(times) * (i * len(kinds) + k + 0.5) / slots)]
            faults.append(
                Planted(kind, channel, start, start + pd.Timedelta(minutes=minutes), size)
            )
    return faults
