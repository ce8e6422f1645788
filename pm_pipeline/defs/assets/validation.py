"""Validation group: labelled synthetic readings from the model, and the events found in them."""

import dagster as dg

from pm_pipeline.core.detection import detect_events
from pm_pipeline.core.evaluation import match_injections, recall
from pm_pipeline.core.model import TrainedModel
from pm_pipeline.core.synthetic import SyntheticSet, generate_synthetic_test_data
from pm_pipeline.core.thresholds import single_model
from pm_pipeline.db.events import replace_events
from pm_pipeline.db.registry import activate_model, load_model
from pm_pipeline.defs.assets.training import AXIS_MODEL_KEYS, THRESHOLD_KEYS
from pm_pipeline.defs.metadata import readings_metadata, table_markdown
from pm_pipeline.defs.resources import ReadingsDatabaseResource

SYNTHETIC_SOURCE = "synthetic"
RECALL_CHECK = "injected_runs_detected"


class SyntheticTestDataConfig(dg.Config):
    """Length of the synthetic set, injected runs per axis and level, and the random seed."""

    hours: float = 6.0
    runs_per_level: int = 1
    seed: int = 7


@dg.asset(
    group_name="validation",
    ins={f"{axis}_model": dg.AssetIn(key=key) for axis, key in AXIS_MODEL_KEYS.items()},
    deps=list(THRESHOLD_KEYS.values()),
)
def synthetic_test_data(  # noqa: PLR0913 - one parameter per upstream axis model
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
        model, config.hours, config.runs_per_level, config.seed
    )
    return dg.MaterializeResult(
        value=synthetic,
        metadata={
            **readings_metadata(synthetic.readings),
            "model_version": model.version,
            "injected_runs": int(len(synthetic.injected)),
            "injected": table_markdown(synthetic.injected),
        },
    )


@dg.asset(
    group_name="validation",
    check_specs=[
        dg.AssetCheckSpec(
            RECALL_CHECK,
            asset="synthetic_events",
            blocking=True,
            description="Recall of injected runs; fails when an error-level run is missed.",
        )
    ],
)
def synthetic_events(
    context: dg.AssetExecutionContext,
    readings_db: ReadingsDatabaseResource,
    synthetic_test_data: SyntheticSet,
) -> dg.MaterializeResult:
    """Events the detector raises on the synthetic set; a model version that catches every
    injected error-level run becomes the active one."""
    engine = readings_db.engine()
    model = load_model(engine, synthetic_test_data.model_version)
    events = detect_events(model, synthetic_test_data.readings)
    replace_events(
        engine, SYNTHETIC_SOURCE, events, model.version, context.run_id, readings_db.robot_id
    )
    matched = match_injections(events, synthetic_test_data.injected)
    error_recall = recall(matched, "ERROR")
    passed = error_recall == 1.0
    if passed:
        activate_model(engine, model.version, readings_db.robot_id)
    figures = {
        "recall": recall(matched),
        "recall_alert_level": recall(matched, "ALERT"),
        "recall_error_level": error_recall,
    }
    return dg.MaterializeResult(
        metadata={
            "model_version": model.version,
            "activated": bool(passed),
            "events": int(len(events)),
            **figures,
            "matched": table_markdown(matched),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=RECALL_CHECK,
                passed=bool(passed),
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={**figures, "missed": int((~matched["caught"]).sum())},
            )
        ],
    )
