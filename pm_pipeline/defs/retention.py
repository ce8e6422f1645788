"""readings_retention_job and its nightly schedule: partitions made ahead, and readings and
rollups past their retention removed (see :mod:`pm_pipeline.services.retention`)."""

import dagster as dg

from pm_pipeline.config.settings import Settings
from pm_pipeline.core.errors import SettingsError
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.services.retention import RetentionPolicy, retain_readings


@dg.op(
    description="Make monthly partitions ahead and remove readings and rollups past "
    "PM_RETENTION_DAYS and PM_ROLLUP_RETENTION_DAYS."
)
def retain_stored_readings(
    context: dg.OpExecutionContext,
    readings_db: ReadingsDatabaseResource,
    settings: SettingsResource,
) -> None:
    report = retain_readings(readings_db.engine(), RetentionPolicy.of(settings.loaded))
    for line in report.lines():
        context.log.info(line)


@dg.job(
    name="readings_retention_job",
    description="Nightly upkeep of our readings store: partitions ahead, retention.",
)
def readings_retention_job() -> None:
    retain_stored_readings()


def build_readings_retention_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """The schedule, at ``PM_RETENTION_CRON`` (03:30) in ``PM_TIMEZONE``."""
    try:
        return dg.ScheduleDefinition(
            name="readings_retention_schedule",
            cron_schedule=settings.retention_cron,
            execution_timezone=settings.timezone,
            job=readings_retention_job,
            default_status=dg.DefaultScheduleStatus.RUNNING,
            description="Makes the readings' monthly partitions ahead and removes readings "
            "and rollups older than their retention settings.",
        )
    except dg.DagsterInvalidDefinitionError:
        raise SettingsError(
            f"PM_RETENTION_CRON={settings.retention_cron!r}: not a valid cron expression; "
            "write five fields (minute hour day month weekday) such as '30 3 * * *'."
        ) from None
