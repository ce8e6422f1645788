"""nightly_retraining_schedule: retrain, verify and (if the checks pass) promote each robot's
models every night, a run per robot."""

import dagster as dg

from pm_pipeline.config.settings import Settings
from pm_pipeline.core.errors import SettingsError
from pm_pipeline.defs.jobs import TRAINING_JOB
from pm_pipeline.defs.partitions import ROBOTS
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.services.retraining import robots_to_retrain


def build_nightly_retraining_schedule(location_settings: Settings) -> dg.ScheduleDefinition:
    """The schedule, at ``PM_RETRAIN_CRON`` (02:00) in ``PM_TIMEZONE`` (UTC).

    The training window, ``PM_TRAINING_DAYS`` (default: everything stored), is read when each
    tick is evaluated, so changing it needs no reload.
    """
    try:

        @dg.schedule(
            name="nightly_retraining_schedule",
            cron_schedule=location_settings.retrain_cron,
            execution_timezone=location_settings.timezone,
            job_name=TRAINING_JOB,
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Retrains scaler, models and thresholds on the newest readings, checks "
            "them on synthetic data and promotes the version only if every check passes.",
        )
        def nightly_retraining_schedule(
            context: dg.ScheduleEvaluationContext,
            readings_db: ReadingsDatabaseResource,
            settings: SettingsResource,
        ) -> list[dg.RunRequest] | dg.SkipReason:
            tick_settings = settings.loaded
            robots = robots_to_retrain(
                readings_db.engine(),
                readings_db.table(),
                context.instance.get_dynamic_partitions(ROBOTS),
                tick_settings.source_layout,
            )
            if not robots:
                return dg.SkipReason("no robot has readings yet: nothing to retrain")
            return [
                dg.RunRequest(
                    run_key=f"{robot}@{context.scheduled_execution_time:%Y-%m-%dT%H:%M%z}",
                    partition_key=robot,
                    run_config=training_run_config(tick_settings),
                    tags={"pm/trigger": "nightly_retraining_schedule", "pm/robot": robot},
                )
                for robot in robots
            ]

    except dg.DagsterInvalidDefinitionError:
        # Settings checked the five fields; Dagster checks their ranges.
        raise SettingsError(
            f"PM_RETRAIN_CRON={location_settings.retrain_cron!r}: not a valid cron expression; "
            "write five fields (minute hour day month weekday) such as '0 2 * * *'."
        ) from None
    return nightly_retraining_schedule


def training_run_config(settings: Settings) -> dict:
    """Run config of a scheduled retraining: the last ``PM_TRAINING_DAYS`` days, if set."""
    if settings.training_days is None:
        return {}
    return {"ops": {"raw_readings": {"config": {"last_days": settings.training_days}}}}
