"""Detector settings: one frozen dataclass per mode, each with that mode's own defaults.

A model stores its settings as one flat dictionary (see :meth:`DetectorSettings.to_dict`):
the shape every registry row has had since both modes shared one settings class, so old
rows load and a model fitted today hashes to the version it always had.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import ClassVar

from pm_pipeline.core.errors import PipelineError

# The flat dictionary the registry has always stored: both modes' settings, the ones a mode
# does not use at these values. Changing a value here changes every model version.
STORED_DEFAULTS: dict[str, object] = {
    "mode": "seed",
    "z_alert": 1.65,
    "z_error": 2.57,
    "sustain_percentile": 95.0,
    "min_sustain_samples": 3,
    "gap_factor": 5.0,
    "window_samples": 48,
    "min_window_samples": 16,
    "idle_window_samples": 8,
    "z_clip": 25.0,
    "false_alarm_budget_per_h": 0.01,
    "min_idle_sustain_samples": 4,
    "max_sustain_samples": 200,
    "merge_gap_samples": 4,
    "idle_other_max": 0,
}


class DetectorSettings:
    """What every mode's settings have: z levels for ALERT and ERROR, the shortest event,
    and the step (``gap_factor × dt``) beyond which readings are a data gap no event spans."""

    mode: ClassVar[str]
    z_alert: float
    z_error: float
    min_sustain_samples: int
    gap_factor: float

    def to_dict(self) -> dict:
        """The flat dictionary stored with a model; :func:`settings_from_dict` reverses it."""
        own = asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass
        # A setting added after models were stored is None in those models, and left out
        # of their dictionary as it always was.
        own = {key: value for key, value in own.items() if value is not None}
        return {**STORED_DEFAULTS, **own, "mode": self.mode}


@dataclass(frozen=True)
class SeedSettings(DetectorSettings):
    """``seed``, the original recipe: per-sample z; the sustain time is the
    ``sustain_percentile`` of training run lengths, at least ``min_sustain_samples``."""

    mode: ClassVar[str] = "seed"
    z_alert: float = 1.65
    z_error: float = 2.57
    sustain_percentile: float = 95.0
    min_sustain_samples: int = 3
    gap_factor: float = 5.0


@dataclass(frozen=True)
class RobustSettings(DetectorSettings):
    """``robust``: idle and active channels, windowed robust z, sustain from a false-alarm
    budget (see :mod:`pm_pipeline.core.detection.robust_fit`)."""

    mode: ClassVar[str] = "robust"
    z_alert: float = 3.0
    z_error: float = 4.0
    min_sustain_samples: int = 16
    """Fewest active samples an event lasts."""
    gap_factor: float = 5.0
    window_samples: int = 48
    """Active samples averaged per score (~3 motion cycles of ~16 samples)."""
    min_window_samples: int = 16
    """Fewer active samples than this since a data gap give no score yet."""
    idle_window_samples: int = 8
    """Idle samples averaged per idle score."""
    z_clip: float = 25.0
    """Per-sample active z is clipped to ±z_clip before averaging."""
    false_alarm_budget_per_h: float = 0.01
    """Training events per hour, per axis and channel, allowed by the sustain time."""
    min_idle_sustain_samples: int = 4
    max_sustain_samples: int = 200
    merge_gap_samples: int = 4
    """Holes of at most this many samples inside a run are filled."""
    idle_other_max: int = 0
    """A row is idle for an axis when at most this many other axes carry current."""


@dataclass(frozen=True)
class CusumSettings(DetectorSettings):
    """``cusum``: accumulated standardised residuals of each axis given the other axes'
    currents (see :mod:`pm_pipeline.core.detection.cusum_fit`). Its fields are stored
    after the flat shape's, so models of the older modes keep their versions."""

    mode: ClassVar[str] = "cusum"
    z_alert: float = 3.0
    """Least evidence of an ALERT: one-sided z of the event's mean standardised score."""
    z_error: float = 5.0
    """Least evidence of an ERROR (and the threshold is at least ``error_factor`` × ALERT's)."""
    min_sustain_samples: int = 6
    """Fewest channel samples from an event's start to its peak (8 before residuals were
    divided by their neighbours' spread; 6 keeps a single 20-s burst, about 5 moving
    samples, that lifts the surge channel past its level)."""
    gap_factor: float = 5.0
    level_reference: float = 0.25
    """CUSUM reference value k of the level channel, in σ: about half the smallest shift
    worth catching (a ×1.3 rise moves the log current by 0.3–0.5 σ)."""
    spread_reference: float = 0.12
    """k of the spread channel (absolute level scores, standardised)."""
    state_reference: float = 0.5
    """k of the idle and flat channels (current while idle; a reading repeated exactly)."""
    clip: float = 3.0
    """Per-sample scores are clipped to ±clip before they accumulate."""
    neighbours: int = 6
    """Training moments whose current predicts an axis from the other axes' currents."""
    reference_rows: int = 8000
    """Most training moments stored with the model for that prediction."""
    false_alarm_budget_per_h: float = 0.002
    """Events per hour, per axis and channel, that the ALERT threshold allows on training
    data (extrapolated from the tail of the training excursions)."""
    error_factor: float = 2.0
    """An ERROR needs at least this multiple of the ALERT threshold."""
    idle_other_max: int = 0
    """A row is idle for an axis when at most this many other axes carry current."""
    surge_reference: float | None = 0.75
    """k of the surge channel (the level score again, with a larger k): short, large rises
    such as intermittent bursts, which the level channel's small k averages away. None (a
    model stored before the channel existed): no surge channel."""
    variance_reference: float | None = 0.25
    """k of the variance channel (squared level scores, standardised): added noise. None:
    no variance channel."""
    spread_floor_share: float | None = 1.0
    """Residuals are divided by their neighbours' spread, floored at this share of the
    axis' training residual spread (MAD): see :mod:`pm_pipeline.core.detection.conditioning`.
    None (a model stored before it existed): residuals are not divided."""


@dataclass(frozen=True)
class MspcSettings(DetectorSettings):
    """``mspc``: every channel predicted from the others and the context columns, its
    residual smoothed and compared with a limit from the training window, the baseline
    following slow drift (see :mod:`pm_pipeline.core.detection.mspc_fit`)."""

    mode: ClassVar[str] = "mspc"
    z_alert: float = 1.0
    """ALERT when a channel's smoothed residual passes its limit (the score is a multiple
    of the limit)."""
    z_error: float = 2.0
    """ERROR when it passes twice its limit."""
    min_sustain_samples: int = 3
    """Fewest alarming samples an event holds: one or two samples over the level are noise
    the EWMA let through, not a sustained change."""
    gap_factor: float = 5.0
    ewma_span: int = 20
    """Samples the residuals are averaged over (EWMA span, λ = 2/(span+1)): it cuts white
    noise by √((2-λ)/λ) ≈ 4.5 so shifts of ~1 σ stand out, and a 400-reading training
    window still holds 20 spans to measure the smoothed residual's range on."""
    limit_factor: float = 1.0
    """A statistic's alarm level is its largest |EWMA| in the training window plus this
    many times the EWMA's training range. The baseline follows drift with a time constant
    of one training window, so it lags a drift at the window's own pace by about the
    window's range: one range above what training reached stays quiet for that."""
    adapt_windows: float = 1.0
    """The baseline follows the smoothed residuals with a time constant of this many
    training windows (in readings), frozen while an alarm is up: the model trusts its
    training for as long as the window it saw."""
    fit_share: float | None = 0.7
    """Share of the training readings (the earliest) each channel's prediction is fitted
    on; the residual spread and the limits are measured on all of them, so the last 30%
    are readings the prediction has not seen, as every scored reading will be (held-out
    calibration, the usual 70/30 split). None (models stored before 2026-12-06): fitted
    on all of them."""
    ridge_alpha: float = 1.0
    """Ridge penalty of each channel's prediction (standardised inputs; 1 is a fraction of
    a percent of any training window's sum of squares, so it only steadies collinear inputs)."""
    merge_gap_samples: int = 20
    """Alarms at most this many quiet samples apart are one event (one EWMA span)."""
    settle_spans: float | None = 1.0
    """How an alarm ends when the statistic does not come all the way back. An alarming
    statistic that has come back by at least one limit from its furthest excursion and
    then moved less than one limit over this many EWMA spans holds a new level: its alarm
    has reported it (once), the level becomes its baseline, and the way on back towards
    the level before the alarm raises nothing. One span is as steady as the smoothed
    statistic can tell. A fault that holds or grows never comes back, so it alarms until
    it ends. None: an alarming baseline stands still however long a level holds (models
    stored before it came, late on 2026-12-06)."""
    adopt_from_hold_start: bool | None = True
    """A level adopted after an alarm (``settle_spans``) is the statistic's baseline from
    the first reading of the span over which it held, not from the span's last: those
    readings are scored against it (each within one limit of it, so quiet), and the
    alarm's event ends where the statistic came back, as a ``cusum`` event ends at its
    excursion's peak. The span's readings reach the events ``settle_spans`` EWMA spans
    later than the others. None or False: the span's readings alarm, and the event ends
    a span after the statistic came back (models stored before 2026-12-07)."""
    adaptive_ewma: bool | None = True
    """Smooth each channel's level statistic with Capizzi and Masarotto's adaptive EWMA
    (a location chart) instead of the plain one: a step of the statistic from its average
    larger than the statistic's largest training value passes almost in full, a smaller
    one is smoothed as before, so a large shift is seen at once, as a Shewhart chart sees
    it, while noise stays as quiet; the spread statistics keep the plain EWMA. The limits
    are fitted on the adaptive average by the same rule. None or False: the plain EWMA
    (models stored before 2026-12-07)."""


@dataclass(frozen=True)
class AutoSettings(MspcSettings):
    """``auto``, the default: the mode is picked per robot from its training readings
    (:func:`pm_pipeline.core.detection.auto.chosen_settings`) and recorded in the model.
    A robot that idles (at least ``idle_share`` of its training readings have every channel
    at exactly 0) and has two or more channels gets ``cusum`` with its defaults, built for
    bursts of motion between idle stretches; any other machine gets ``mspc`` with these
    settings. Never stored: a model stores the mode it was fitted with."""

    mode: ClassVar[str] = "auto"
    idle_share: float = 0.05
    """Share of all-zero training readings from which a machine counts as one that idles:
    one reading in twenty in a second operating state, standing still, which a single
    linear relation around one centre cannot hold."""


ADDED_LATER: dict[str, tuple[str, ...]] = {
    "cusum": ("surge_reference", "variance_reference", "spread_floor_share"),
    "mspc": ("fit_share", "settle_spans", "adopt_from_hold_start", "adaptive_ewma"),
}
"""Per mode, settings a stored model may lack; it loads them as None (what it was fitted
without), so it keeps its dictionary and scores as it did."""

SettingsType = type[SeedSettings] | type[RobustSettings] | type[CusumSettings] | type[MspcSettings]
AnySettings = SeedSettings | RobustSettings | CusumSettings | MspcSettings | AutoSettings
SETTINGS_BY_MODE: dict[str, SettingsType] = {
    "robust": RobustSettings,
    "seed": SeedSettings,
    "cusum": CusumSettings,
    "mspc": MspcSettings,
}
MODES = tuple(SETTINGS_BY_MODE)
"""The detector modes a model is fitted and scored with."""
DEFAULT_MODE = AutoSettings.mode
"""What new models are fitted with unless a mode is set: a mode picked per robot."""


def settings_type(mode: str) -> SettingsType | type[AutoSettings]:
    """The settings class of ``mode`` (``auto`` included).

    Raises
    ------
    PipelineError
        When ``mode`` is not a known detector mode.
    """
    if mode == AutoSettings.mode:
        return AutoSettings
    if mode not in SETTINGS_BY_MODE:
        raise PipelineError(
            f"config: mode {mode!r} is unknown; use one of {', '.join(MODES)} or auto."
        )
    return SETTINGS_BY_MODE[mode]


def settings_for_mode(mode: str, **overrides: object) -> AnySettings:
    """A mode's default settings with ``overrides`` (None values are ignored) on top.

    Raises
    ------
    PipelineError
        When the mode is unknown, or a setting is set that the mode does not use.
    """
    kind = settings_type(mode)
    chosen = {key: value for key, value in overrides.items() if value is not None}
    known = {field.name for field in fields(kind)}
    foreign = sorted(set(chosen) - known)
    if foreign:
        raise PipelineError(
            f"config: {', '.join(foreign)} has no meaning in mode {mode!r}; leave it unset "
            f"(mode {mode!r} takes {', '.join(sorted(known))})."
        )
    return kind(**chosen)  # type: ignore[arg-type]  # values come from typed config


def settings_from_dict(content: dict) -> AnySettings:
    """Settings from a stored model's flat dictionary (the other mode's keys are ignored)."""
    kind = settings_type(str(content.get("mode", STORED_DEFAULTS["mode"])))
    known = {field.name for field in fields(kind)}
    chosen: dict[str, object] = {key: value for key, value in content.items() if key in known}
    chosen.update({key: None for key in ADDED_LATER.get(kind.mode, ()) if key not in content})
    return kind(**chosen)  # type: ignore[arg-type]  # values as stored by to_dict
