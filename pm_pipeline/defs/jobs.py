"""Jobs: a robot's retraining (training + validation groups), scoring its landed files, and
refreshing its views."""

import dagster as dg

from pm_pipeline.defs.assets import file_events

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups("training", "validation"),
    description="Fit a robot's scaler, axis models and thresholds, then verify them on "
    "synthetic data.",
)

views_job = dg.define_asset_job(
    "views_job",
    selection=dg.AssetSelection.groups("views"),
    description="Refresh a robot's data health, axis summary, events summary and open events.",
)

MAX_RUNTIME_TAG = "dagster/max_runtime"
DEFAULT_MAX_RUNTIME_SECONDS = "600"

FILE_SCORING_JOB = "file_scoring_job"


def build_file_scoring_job(executor: dg.ExecutorDefinition):
    """The scoring job, run on ``executor``
    (see :func:`pm_pipeline.defs.executors.scoring_executor`)."""
    return dg.define_asset_job(
        FILE_SCORING_JOB,
        selection=dg.AssetSelection.assets(file_events),
        executor_def=executor,
        # A run lost with the daemon is failed past this and retried by run_retries; the sensor
        # sets it from PM_SCORING_MAX_RUNTIME_SECONDS, this covers runs started from the UI.
        tags={MAX_RUNTIME_TAG: DEFAULT_MAX_RUNTIME_SECONDS},
        description="Score landed controller exports of a robot with its active model version.",
    )
