"""nightly_retraining_schedule: retrain, verify and (if the checks pass) promote each robot's
models every night, a run per robot."""

import dagster as dg

from pm_pipeline.config.settings import Settings, load_settings
from pm_pipeline.core.errors import SettingsError
from pm_pipeline.db.readings import stored_robot_ids
from pm_pipeline.defs.jobs import TRAINING_JOB
from pm_pipeline.defs.partitions import ROBOTS
from pm_pipeline.defs.resources import ReadingsDatabaseResource


def build_nightly_retraining_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """The schedule, at ``PM_RETRAIN_CRON`` (02:00) in ``PM_TIMEZONE`` (UTC).

    The training window, ``PM_TRAINING_DAYS`` (default: everything stored), is read when each
    tick is evaluated, so changing it needs no reload.
    """
    try:

        @dg.schedule(
            name="nightly_retraining_schedule",
            cron_schedule=settings.retrain_cron,
            execution_timezone=settings.timezone,
            job_name=TRAINING_JOB,
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Retrains scaler, models and thresholds on the newest readings, checks "
            "them on synthetic data and promotes the version only if every check passes.",
        )
        def nightly_retraining_schedule(
            context: dg.ScheduleEvaluationContext, readings_db: ReadingsDatabaseResource
        ) -> list[dg.RunRequest] | dg.SkipReason:
            tick_settings = load_settings()
            robots = robots_to_retrain(context.instance, readings_db, tick_settings)
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
            f"PM_RETRAIN_CRON={settings.retrain_cron!r}: not a valid cron expression; write "
            "five fields (minute hour day month weekday) such as '0 2 * * *'."
        ) from None
    return nightly_retraining_schedule


def robots_to_retrain(
    instance: dg.DagsterInstance, readings_db: ReadingsDatabaseResource, settings: Settings
) -> list[str]:
    """The robots that are partitions and have readings to train on: stored ones, or, with
    your own readings table configured, every robot (its rows are copied in at the start)."""
    robots = instance.get_dynamic_partitions(ROBOTS)
    if settings.source_layout != "none":
        return list(robots)
    stored = set(stored_robot_ids(readings_db.engine(), readings_db.table()))
    return [robot for robot in robots if robot in stored]


def training_run_config(settings: Settings) -> dict:
    """Run config of a scheduled retraining: the last ``PM_TRAINING_DAYS`` days, if set."""
    if settings.training_days is None:
        return {}
    return {"ops": {"raw_readings": {"config": {"last_days": settings.training_days}}}}
