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

file_scoring_job = dg.define_asset_job(
    "file_scoring_job",
    selection=dg.AssetSelection.assets(file_events),
    partitions_def=landed_files_partitions,
    description="Score one landed controller export with the newest model version.",
)
