"""Asset definitions, by group."""

from pm_pipeline.defs.assets.fleet import event_labels, fleet_health
from pm_pipeline.defs.assets.scoring import file_event_checks, file_events
from pm_pipeline.defs.assets.training import axis_models, minmax_scaler, raw_readings, thresholds
from pm_pipeline.defs.assets.validation import synthetic_events, synthetic_test_data
from pm_pipeline.defs.assets.views import axis_summary, data_health, events_summary, open_events

TRAINING_ASSETS = [
    raw_readings,
    minmax_scaler,
    axis_models,
    thresholds,
    synthetic_test_data,
    synthetic_events,
]
VIEW_ASSETS = [data_health, axis_summary, events_summary, open_events]
FLEET_ASSETS = [event_labels, fleet_health]
# file_events is materialized by landed_files_job; its checks judge a robot-day again.
ALL_ASSETS = [*TRAINING_ASSETS, file_events, file_event_checks, *VIEW_ASSETS, *FLEET_ASSETS]

__all__ = [
    "ALL_ASSETS",
    "TRAINING_ASSETS",
    "VIEW_ASSETS",
    "file_events",
]
