"""Jobs: a robot's retraining (training + validation groups), scoring landed files (the one
scoring path: the sensor's runs and `pm-pipeline score`), and refreshing a robot's views."""

from collections.abc import Mapping

import dagster as dg

from pm_pipeline.defs.assets.scoring import score_landed_files

TRAINING_JOB = "training_job"


def build_training_job(executor: dg.ExecutorDefinition):
    """A robot's retraining, its steps spread by ``executor``
    (see :func:`pm_pipeline.defs.executors.pipeline_executor`)."""
    return dg.define_asset_job(
        TRAINING_JOB,
        selection=dg.AssetSelection.groups("training", "validation"),
        executor_def=executor,
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

LANDED_FILES_JOB = "landed_files_job"


def landed_files_in(run_config: Mapping[str, object]) -> list[dict[str, str]]:
    """The files (robot, file key, path) a run of ``landed_files_job`` scores, as its config
    lists them; none for a run of another job."""
    ops = run_config.get("ops")
    op = ops.get("score_landed_files") if isinstance(ops, Mapping) else None
    config = op.get("config") if isinstance(op, Mapping) else None
    files = config.get("files") if isinstance(config, Mapping) else None
    return [dict(landed) for landed in files] if isinstance(files, list) else []


def build_landed_files_job(executor: dg.ExecutorDefinition) -> dg.JobDefinition:
    """The one scoring job: a run of the sensor scores a lane's files that a tick found,
    whichever robots they belong to, and `pm-pipeline score` runs it for one file; each file
    is a materialization of its robot-day's ``file_events`` partition (see "Throughput" in
    docs/fleet.md)."""

    @dg.job(
        name=LANDED_FILES_JOB,
        executor_def=executor,
        tags={MAX_RUNTIME_TAG: DEFAULT_MAX_RUNTIME_SECONDS},
        description="Score controller exports (those landed_file_sensor found, or one given "
        "to pm-pipeline score), each with its robot's active model version.",
    )
    def landed_files_job() -> None:
        score_landed_files()

    return landed_files_job
