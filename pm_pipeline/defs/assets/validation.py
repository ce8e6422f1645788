"""Validation group: labelled synthetic readings from the model, and the events found in them."""

import dagster as dg

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.detection.registry import detect_events
from pm_pipeline.core.evaluation.metrics import match_injections
from pm_pipeline.core.evaluation.promotion import (
    LandedFaultCheck,
    PromotionChecks,
    evaluate_promotion,
)
from pm_pipeline.core.model.thresholds import single_model
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.schema import synthetic_source
from pm_pipeline.core.simulation.synthetic import (
    VERIFICATION_HOURS,
    SyntheticSet,
    generate_synthetic_test_data,
)
from pm_pipeline.db.events import replace_events
from pm_pipeline.db.registry import activate_model, load_model, record_checks
from pm_pipeline.defs.assets.training import AXIS_MODEL_KEYS, THRESHOLD_KEYS
from pm_pipeline.defs.metadata import landed_fault_metadata, readings_metadata, table_markdown
from pm_pipeline.defs.partitions import robots_partitions
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline.services.promotion import check_newest_landed_fault

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
    ins={f"{axis}_model": dg.AssetIn(key=key) for axis, key in AXIS_MODEL_KEYS.items()},
    deps=list(THRESHOLD_KEYS.values()),
    partitions_def=robots_partitions,
)
def synthetic_test_data(
    config: SyntheticTestDataConfig,
    axis_1_model: TrainedModel,
    axis_2_model: TrainedModel,
    axis_3_model: TrainedModel,
    axis_4_model: TrainedModel,
    axis_5_model: TrainedModel,
    axis_6_model: TrainedModel,
    axis_7_model: TrainedModel,
    axis_8_model: TrainedModel,
) -> dg.MaterializeResult:
    """Readings in amperes drawn from the models after the training window, with injected
    alert- and error-level runs recorded as ground truth."""
    model = single_model(
        [
            axis_1_model,
            axis_2_model,
            axis_3_model,
            axis_4_model,
            axis_5_model,
            axis_6_model,
            axis_7_model,
            axis_8_model,
        ]
    )
    synthetic = generate_synthetic_test_data(
        model, config.hours, config.runs_per_level, config.seed, config.readings or None
    )
    return dg.MaterializeResult(
        value=synthetic,
        metadata={
            **readings_metadata(synthetic.readings),
            "model_version": model.version,
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
    synthetic_test_data: SyntheticSet,
) -> dg.MaterializeResult:
    """Events the detector raises on the synthetic set. A version that passes every check
    becomes the active one; otherwise the previous active version stays."""
    engine, robot_id = readings_db.engine(), context.partition_key
    model = load_model(engine, synthetic_test_data.model_version)
    events = detect_events(model, synthetic_test_data.readings)
    source = synthetic_source(model.version)
    replace_events(engine, source, events, model.version, context.run_id, robot_id)
    matched = match_injections(events, synthetic_test_data.injected)
    landed = check_newest_landed_fault(engine, readings_db.table(), robot_id, model)
    min_rows = config.min_training_rows or load_settings().min_training_rows
    checks = evaluate_promotion(model, matched, min_rows, landed)
    record_checks(engine, model.version, checks.to_dict())
    if checks.passed:
        activate_model(engine, model.version, robot_id, "passed its checks", context.run_id)
        outcome = f"version {model.version} is now active for {robot_id}"
    else:
        outcome = f"version {model.version} not promoted: {'; '.join(checks.reasons)}"
        context.log.warning(outcome)
    return dg.MaterializeResult(
        metadata={
            "model_version": model.version,
            "promotion": outcome,
            "events": len(events),
            "events_source": source,
            "recall": checks.synthetic_recall,
            "recall_error_level": checks.error_level_recall,
            "matched": table_markdown(matched),
        },
        check_results=[
            _check(RECALL_CHECK, checks.recall_ok, checks),
            _check(FINITE_CHECK, checks.coefficients_finite, checks),
            _check(ROWS_CHECK, checks.enough_rows, checks),
            _landed_fault_check(landed),
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
