"""Whether a newly trained model version may become the active one."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from pm_pipeline.core.evaluation.metrics import recall
from pm_pipeline.core.model.trained import TrainedModel

DEFAULT_MIN_TRAINING_ROWS = 1000


@dataclass(frozen=True)
class PromotionChecks:
    """The three gates a version must pass, with a reason for each one that failed."""

    synthetic_recall: float
    error_level_recall: float
    recall_ok: bool
    coefficients_finite: bool
    enough_rows: bool
    reasons: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.recall_ok and self.coefficients_finite and self.enough_rows

    def to_dict(self) -> dict:
        return {**asdict(self), "reasons": list(self.reasons), "passed": self.passed}


def evaluate_promotion(
    model: TrainedModel, matched: pd.DataFrame, min_rows: int = DEFAULT_MIN_TRAINING_ROWS
) -> PromotionChecks:
    """Check synthetic recall, finite coefficients and training size.

    Parameters
    ----------
    model
        The candidate version.
    matched
        Output of :func:`pm_pipeline.core.evaluation.match_injections` on its synthetic set.
    min_rows
        Fewest training readings a version may be promoted with.

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
        reasons.append(f"trained on {model.row_count} readings, fewer than {min_rows}")
    return PromotionChecks(
        synthetic_recall=recall(matched),
        error_level_recall=error_recall,
        recall_ok=error_recall == 1.0,
        coefficients_finite=finite,
        enough_rows=model.row_count >= min_rows,
        reasons=tuple(reasons),
    )
