"""Jobs: retraining (training + validation groups) and scoring one landed file."""

import dagster as dg

from pm_pipeline.defs.assets import file_events, landed_files_partitions

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups("training", "validation"),
    description="Fit scaler, axis models and thresholds, then verify them on synthetic data.",
)

views_job = dg.define_asset_job(
    "views_job",
    selection=dg.AssetSelection.groups("views"),
    description="Refresh data health, axis summary and events summary.",
)

MAX_RUNTIME_TAG = "dagster/max_runtime"
DEFAULT_MAX_RUNTIME_SECONDS = "600"

file_scoring_job = dg.define_asset_job(
    "file_scoring_job",
    selection=dg.AssetSelection.assets(file_events),
    partitions_def=landed_files_partitions,
    # A run lost with the daemon is failed past this and retried by run_retries; the sensor
    # sets it from PM_SCORING_MAX_RUNTIME_SECONDS, this covers runs started from the UI.
    tags={MAX_RUNTIME_TAG: DEFAULT_MAX_RUNTIME_SECONDS},
    description="Score one landed controller export with the newest model version.",
)
