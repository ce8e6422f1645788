"""Whether a newly trained model version may become the active one."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from pm_pipeline.core.evaluation.metrics import match_injections, recall
from pm_pipeline.core.model.sizing import DEFAULT_MIN_TRAINING_ROWS, short_window_hint
from pm_pipeline.core.model.trained import TrainedModel


@dataclass(frozen=True)
class LandedFaultCheck:
    """Whether a candidate still flags, in the newest landed file where the active model
    flags something, every event the active model flags there.

    Both models score the same stored readings, the file's span; an active event is caught
    by any candidate event on its axis that overlaps it, whatever its severity.
    """

    passed: bool
    summary: str
    """One sentence: what was compared and what came of it, or why nothing was."""
    source: str | None = None
    """The landed file compared on; None when there was nothing to compare."""
    active_events: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The active model's events there, with ``caught`` by the candidate."""
    candidate_events: pd.DataFrame = field(default_factory=pd.DataFrame)


def nothing_to_compare(why: str) -> LandedFaultCheck:
    """A passing :class:`LandedFaultCheck` that says why there was nothing to compare."""
    return LandedFaultCheck(True, why)


def compare_landed_fault(
    source: str, active_events: pd.DataFrame, candidate_events: pd.DataFrame
) -> LandedFaultCheck:
    """Check that the candidate's events on a landed file cover the active model's.

    Parameters
    ----------
    source
        The landed file both models scored.
    active_events, candidate_events
        :func:`pm_pipeline.core.detection.registry.detect_events` of each model on the
        file's stored readings.

    Returns
    -------
    LandedFaultCheck
        Failed when an active event has no overlapping candidate event on its axis.
    """
    if active_events.empty:
        summary = f"the active model flags nothing in {source}, the newest landed file with events"
        return LandedFaultCheck(
            True, summary, source, active_events.assign(caught=False), candidate_events
        )
    windows = active_events.assign(level="ALERT")  # caught by an event of any severity
    caught = match_injections(candidate_events, windows)["caught"].to_numpy()
    marked = active_events.assign(caught=caught)
    missed = marked[~marked["caught"]]
    if missed.empty:
        summary = (
            f"the candidate flags all {len(marked)} event(s) the active model flags in {source}"
        )
    else:
        where = ", ".join(
            f"{row.axis} {row.start:%Y-%m-%d %H:%M:%S}" for row in missed.itertuples()
        )
        summary = (
            f"the candidate misses {len(missed)} of the {len(marked)} event(s) the active "
            f"model flags in {source} ({where} UTC)"
        )
    return LandedFaultCheck(missed.empty, summary, source, marked, candidate_events)


@dataclass(frozen=True)
class PromotionChecks:
    """The gates a version must pass, with a reason for each one that failed."""

    synthetic_recall: float
    error_level_recall: float
    recall_ok: bool
    coefficients_finite: bool
    enough_rows: bool
    reasons: tuple[str, ...]
    landed_fault_ok: bool = True
    """The candidate flags what the active model flags in the newest landed file."""
    landed_fault: str = ""
    """What that comparison found, or why there was nothing to compare."""

    @property
    def passed(self) -> bool:
        gates = (self.recall_ok, self.coefficients_finite, self.enough_rows, self.landed_fault_ok)
        return all(gates)

    def to_dict(self) -> dict:
        return {**asdict(self), "reasons": list(self.reasons), "passed": self.passed}


def evaluate_promotion(
    model: TrainedModel,
    matched: pd.DataFrame,
    min_rows: int = DEFAULT_MIN_TRAINING_ROWS,
    landed: LandedFaultCheck | None = None,
) -> PromotionChecks:
    """Check synthetic recall, finite coefficients, training size and, when given, the
    newest landed fault.

    Parameters
    ----------
    model
        The candidate version.
    matched
        Output of :func:`pm_pipeline.core.evaluation.match_injections` on its synthetic set.
    min_rows
        Fewest training readings a version may be promoted with.
    landed
        :func:`compare_landed_fault` of the candidate against the active model; None
        passes.

    Returns
    -------
    PromotionChecks
    """
    error_recall = recall(matched, "ERROR")
    numbers = [
        value
        for fitted in model.axes.values()
        for value in (
            fitted.slope,
            fitted.intercept,
            fitted.residual_sigma,
            fitted.thresholds.min_c,
            fitted.thresholds.max_c,
        )
    ]
    finite = all(math.isfinite(value) for value in numbers)
    reasons = []
    if error_recall < 1.0:
        missed = int((~matched["caught"] & (matched["level"] == "ERROR")).sum())
        reasons.append(f"missed {missed} injected error-level run(s) on synthetic data")
    if not finite:
        reasons.append("a coefficient or threshold is not a finite number")
    if model.row_count < min_rows:
        reasons.append(
            f"trained on {model.row_count} readings, fewer than {min_rows}: "
            + short_window_hint(model.row_count, min_rows, model.dt_s)
        )
    if landed is not None and not landed.passed:
        reasons.append(landed.summary)
    return PromotionChecks(
        synthetic_recall=recall(matched),
        error_level_recall=error_recall,
        recall_ok=error_recall == 1.0,
        coefficients_finite=finite,
        enough_rows=model.row_count >= min_rows,
        reasons=tuple(reasons),
        landed_fault_ok=landed is None or landed.passed,
        landed_fault=landed.summary if landed is not None else "",
    )
