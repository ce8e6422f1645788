"""Validation group: labelled synthetic readings from the model, and the events found in them."""

import dagster as dg

from pm_pipeline.core.evaluation.promotion import LandedFaultCheck, PromotionChecks
from pm_pipeline.core.simulation.synthetic import VERIFICATION_HOURS, SyntheticSet
from pm_pipeline.defs.assets.training import AXIS_MODEL_KEYS, THRESHOLD_KEYS, axis_models_version
from pm_pipeline.defs.metadata import landed_fault_metadata, readings_metadata, table_markdown
from pm_pipeline.defs.partitions import robots_partitions
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.services.models import SyntheticSetConfig, synthetic_set
from pm_pipeline.services.promotion import promote_if_checks_pass

RECALL_CHECK = "injected_runs_detected"
FINITE_CHECK = "coefficients_finite"
ROWS_CHECK = "enough_training_rows"
LANDED_FAULT_CHECK = "catches_newest_landed_fault"


class SyntheticTestDataConfig(dg.Config):
    """Length of the synthetic set, injected runs per axis and level, and the random seed.

    The set lasts at least ``hours`` at the model's cadence and holds at least the readings
    its injected runs need; ``readings`` (0: sized so) fixes its length instead."""

    hours: float = VERIFICATION_HOURS
    runs_per_level: int = 1
    seed: int = 7
    readings: int = 0


@dg.asset(
    group_name="validation",
    deps=[*AXIS_MODEL_KEYS.values(), *THRESHOLD_KEYS.values()],
    partitions_def=robots_partitions,
)
def synthetic_test_data(
    context: dg.AssetExecutionContext,
    config: SyntheticTestDataConfig,
    readings_db: ReadingsDatabaseResource,
) -> dg.MaterializeResult:
    """Readings in amperes drawn from the models after the training window, with injected
    alert- and error-level runs recorded as ground truth."""
    shape = SyntheticSetConfig(
        config.hours, config.runs_per_level, config.seed, config.readings or None
    )
    synthetic = synthetic_set(readings_db.engine(), axis_models_version(context), shape)
    return dg.MaterializeResult(
        value=synthetic,
        metadata={
            **readings_metadata(synthetic.readings),
            "model_version": synthetic.model_version,
            "injected_runs": len(synthetic.injected),
            "injected": table_markdown(synthetic.injected),
        },
    )


class SyntheticEventsConfig(dg.Config):
    """Fewest training readings a version may be promoted with (0: PM_MIN_TRAINING_ROWS)."""

    min_training_rows: int = 0


PROMOTION_CHECKS = {
    RECALL_CHECK: "Every injected error-level run on synthetic data is caught.",
    FINITE_CHECK: "Every coefficient and threshold is a finite number.",
    ROWS_CHECK: "The version was trained on enough readings.",
    LANDED_FAULT_CHECK: "In the newest landed file where the active version flags events, "
    "this version flags each of them too (both score the file's stored readings).",
}


@dg.asset(
    group_name="validation",
    check_specs=[
        dg.AssetCheckSpec(name, asset="synthetic_events", blocking=True, description=about)
        for name, about in PROMOTION_CHECKS.items()
    ],
    partitions_def=robots_partitions,
)
def synthetic_events(
    context: dg.AssetExecutionContext,
    config: SyntheticEventsConfig,
    readings_db: ReadingsDatabaseResource,
    settings: SettingsResource,
    synthetic_test_data: SyntheticSet,
) -> dg.MaterializeResult:
    """Events the detector raises on the synthetic set. A version that passes every check
    becomes the active one; otherwise the previous active version stays."""
    verdict = promote_if_checks_pass(
        readings_db.robot_store(context.partition_key),
        synthetic_test_data,
        config.min_training_rows or settings.loaded.min_training_rows,
        context.run_id,
    )
    checks = verdict.checks
    if not verdict.promoted:
        context.log.warning(verdict.outcome)
    return dg.MaterializeResult(
        metadata={
            "model_version": verdict.model_version,
            "promotion": verdict.outcome,
            "events": verdict.events,
            "events_source": verdict.events_source,
            "recall": checks.synthetic_recall,
            "recall_error_level": checks.error_level_recall,
            "matched": table_markdown(verdict.matched),
        },
        check_results=[
            _check(RECALL_CHECK, checks.recall_ok, checks),
            _check(FINITE_CHECK, checks.coefficients_finite, checks),
            _check(ROWS_CHECK, checks.enough_rows, checks),
            _landed_fault_check(verdict.landed),
        ],
    )


def _check(name: str, passed: bool, checks: PromotionChecks) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=bool(passed),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "recall": checks.synthetic_recall,
            "recall_error_level": checks.error_level_recall,
            "reasons": "; ".join(checks.reasons) or "none",
        },
    )


def _landed_fault_check(landed: LandedFaultCheck) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=LANDED_FAULT_CHECK,
        passed=bool(landed.passed),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=landed_fault_metadata(landed),
    )
