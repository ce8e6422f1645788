"""Asset definitions, by group."""

from pm_pipeline.defs.assets.scoring import file_events, landed_files_partitions
from pm_pipeline.defs.assets.training import axis_models, minmax_scaler, raw_readings, thresholds
from pm_pipeline.defs.assets.validation import synthetic_events, synthetic_test_data

ALL_ASSETS = [
    raw_readings,
    minmax_scaler,
    axis_models,
    thresholds,
    synthetic_test_data,
    synthetic_events,
    file_events,
]

__all__ = ["ALL_ASSETS", "file_events", "landed_files_partitions"]
