"""nightly_retraining_schedule: retrain, verify and (if the checks pass) promote every night."""

import os
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.defs.jobs import training_job

TIMEZONE_VARIABLE = "PM_TIMEZONE"
CRON_VARIABLE = "PM_RETRAIN_CRON"
TRAINING_DAYS_VARIABLE = "PM_TRAINING_DAYS"
DEFAULT_CRON = "0 2 * * *"


def build_nightly_retraining_schedule(environ: Mapping[str, str]) -> dg.ScheduleDefinition:
    """The schedule, at ``PM_RETRAIN_CRON`` (02:00) in ``PM_TIMEZONE`` (UTC).

    The training window, ``PM_TRAINING_DAYS`` (default: everything stored), is read when each
    tick is evaluated, so changing it needs no reload.
    """
    timezone = environ.get(TIMEZONE_VARIABLE) or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PipelineError(
            f"{TIMEZONE_VARIABLE}={timezone!r} is not a time zone; use an IANA name such as "
            "Europe/Berlin or UTC."
        ) from None
    cron = environ.get(CRON_VARIABLE) or DEFAULT_CRON

    @dg.schedule(
        name="nightly_retraining_schedule",
        cron_schedule=cron,
        execution_timezone=timezone,
        job=training_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Retrains scaler, models and thresholds on the newest readings, checks them "
        "on synthetic data and promotes the version only if every check passes.",
    )
    def nightly_retraining_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(
            run_config=training_run_config(os.environ),
            tags={"pm/trigger": "nightly_retraining_schedule"},
        )

    return nightly_retraining_schedule


def training_run_config(environ: Mapping[str, str]) -> dict:
    """Run config of a scheduled retraining: the last ``PM_TRAINING_DAYS`` days, if set."""
    days = environ.get(TRAINING_DAYS_VARIABLE)
    if not days:
        return {}
    try:
        window = {"last_days": float(days)}
    except ValueError:
        raise PipelineError(
            f"{TRAINING_DAYS_VARIABLE}={days!r} is not a number of days; use e.g. 14."
        ) from None
    return {"ops": {"raw_readings": {"config": window}}}
