"""The pm_pipeline code location: the one Definitions object.

It is built when Dagster loads the location, not on import: the settings are read and
validated then, so ``dagster definitions validate`` names a bad one, and the schedule takes
``PM_TIMEZONE`` and ``PM_RETRAIN_CRON`` from them.
"""

import gc

import dagster as dg

from pm_pipeline.config.settings import load_settings
from pm_pipeline.defs.assets import ALL_ASSETS
from pm_pipeline.defs.assets.fleet import label_event_job, maintenance_records
from pm_pipeline.defs.baseline_sensor import baseline_retraining_sensor
from pm_pipeline.defs.executors import pipeline_executor, run_process_executor
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.jobs import (
    build_landed_files_job,
    build_training_job,
    views_job,
)
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline.defs.retention import build_readings_retention_schedule, readings_retention_job
from pm_pipeline.defs.schedules import build_nightly_retraining_schedule
from pm_pipeline.defs.sensors import (
    landed_file_sensor,
    notification_sensor,
    views_automation_sensor,
)


@dg.definitions
def defs() -> dg.Definitions:
    settings = load_settings()
    return dg.Definitions(
        assets=[*ALL_ASSETS, maintenance_records],
        jobs=[
            # Retraining alone spreads its steps over processes (or Celery workers).
            build_training_job(pipeline_executor(settings)),
            build_landed_files_job(run_process_executor(settings)),
            views_job,
            label_event_job,
            readings_retention_job,
        ],
        executor=run_process_executor(settings),
        schedules=[
            build_nightly_retraining_schedule(settings),
            build_readings_retention_schedule(settings),
        ],
        sensors=[
            landed_file_sensor,
            views_automation_sensor,
            notification_sensor,
            baseline_retraining_sensor,
        ],
        # Step outputs live in the database, so any host that reaches it can run any step.
        resources=pipeline_resources(ReadingsDatabaseResource()),
    )


# What loading the code location made (Dagster's, pandas' and our modules, classes and
# definitions) lives as long as the process. Frozen, the cycle collector no longer walks it
# at every full collection: a robust-mode `pm-pipeline run` takes about 5% less CPU than with
# the package's threshold alone (docs/benchmarks.md, "The garbage collector").
gc.freeze()
