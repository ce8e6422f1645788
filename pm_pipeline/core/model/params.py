"""Detector settings: one frozen dataclass, with each mode's defaults."""

from __future__ import annotations

from dataclasses import dataclass

from pm_pipeline.core.errors import PipelineError

MODES = ("robust", "seed")


@dataclass(frozen=True)
class DetectorParams:
    """Settings that turn residuals into thresholds and events.

    ``seed`` is the original recipe (per-sample z, sustain from the 95th percentile of
    training run lengths). ``robust`` (see :mod:`pm_pipeline.core.robust_fit`) separates idle
    from active operation, scores active current over a window of samples with a robust
    scale, and sets the sustain time from a false-alarm budget. Defaults here are the seed's;
    :func:`params_for_mode` gives each mode's own.
    """

    mode: str = "seed"
    z_alert: float = 1.65
    z_error: float = 2.57
    sustain_percentile: float = 95.0
    min_sustain_samples: int = 3
    gap_factor: float = 5.0
    """A step between readings longer than ``gap_factor × dt`` is a data gap: no run spans it."""
    window_samples: int = 48
    """robust: active samples averaged per score (~3 motion cycles of ~16 samples)."""
    min_window_samples: int = 16
    """robust: fewer active samples than this since a data gap give no score yet."""
    idle_window_samples: int = 8
    """robust: idle samples averaged per idle score."""
    z_clip: float = 25.0
    """robust: per-sample active z is clipped to ±z_clip before averaging."""
    false_alarm_budget_per_h: float = 0.01
    """robust: training events per hour, per axis and channel, allowed by the sustain time."""
    min_idle_sustain_samples: int = 4
    max_sustain_samples: int = 200
    merge_gap_samples: int = 4
    """robust: holes of at most this many samples inside a run are filled."""
    idle_other_max: int = 0
    """robust: a row is idle for an axis when at most this many other axes carry current."""


MODE_DEFAULTS: dict[str, dict] = {
    "seed": {},
    "robust": {"mode": "robust", "z_alert": 3.0, "z_error": 4.0, "min_sustain_samples": 16},
}


def params_for_mode(mode: str, **overrides: object) -> DetectorParams:
    """A mode's default settings with ``overrides`` (None values are ignored) on top."""
    if mode not in MODE_DEFAULTS:
        raise PipelineError(f"config: mode {mode!r} is unknown; use one of {', '.join(MODES)}.")
    chosen = {key: value for key, value in overrides.items() if value is not None}
    return DetectorParams(**{**MODE_DEFAULTS[mode], **chosen, "mode": mode})
