"""nightly_retraining_schedule: retrain, verify and (if the checks pass) promote every night."""

import dagster as dg

from pm_pipeline.core.errors import SettingsError
from pm_pipeline.defs.jobs import training_job
from pm_pipeline.settings import Settings, load_settings


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
            job=training_job,
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Retrains scaler, models and thresholds on the newest readings, checks "
            "them on synthetic data and promotes the version only if every check passes.",
        )
        def nightly_retraining_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
            return dg.RunRequest(
                run_config=training_run_config(load_settings()),
                tags={"pm/trigger": "nightly_retraining_schedule"},
            )

    except dg.DagsterInvalidDefinitionError:
        # Settings checked the five fields; Dagster checks their ranges.
        raise SettingsError(
            f"PM_RETRAIN_CRON={settings.retrain_cron!r}: not a valid cron expression; write "
            "five fields (minute hour day month weekday) such as '0 2 * * *'."
        ) from None
    return nightly_retraining_schedule


def training_run_config(settings: Settings) -> dict:
    """Run config of a scheduled retraining: the last ``PM_TRAINING_DAYS`` days, if set."""
    if settings.training_days is None:
        return {}
    return {"ops": {"raw_readings": {"config": {"last_days": settings.training_days}}}}
