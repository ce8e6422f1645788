"""Fleet group: every robot's health in one view, and the engineer's answers (labels on
events, maintenance records) that feed the next retraining and the robots' statuses."""

import dagster as dg
import pandas as pd

from pm_pipeline.config.robots import load_fleet
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.views.fleet import ROW_COLUMNS, fleet_cell, status_line, status_markdown
from pm_pipeline.db.feedback import read_labels, read_maintenance
from pm_pipeline.defs.assets.scoring import file_events
from pm_pipeline.defs.assets.validation import synthetic_events
from pm_pipeline.defs.automation import deps_updated, since_requested
from pm_pipeline.defs.metadata import table_markdown
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.services.feedback import label_event
from pm_pipeline.services.fleet_health import fleet_health as read_fleet_health

maintenance_records = dg.AssetSpec(
    "maintenance_records",
    group_name="fleet",
    description="Work done on robots, recorded with `pm-pipeline robots maintenance ROBOT "
    "--at TIME`: each robot's next model trains on readings after it.",
)

FLEET_CHANGED = (
    # Readings, labels, models and maintenance: at the next evaluation.
    deps_updated(ignore=dg.AssetSelection.assets(file_events.key))
    # NO DATA and ages move with the clock, not with the deps.
    | since_requested(dg.AutomationCondition.cron_tick_passed("*/10 * * * *"))
    # A fleet's files land every second: their events refresh it at most once a minute. A
    # refresh reads every robot, and every 30 s it took most of a core from scoring.
    | (deps_updated() & since_requested(dg.AutomationCondition.cron_tick_passed("* * * * *")))
) & ~dg.AutomationCondition.in_progress()
FLEET_CHANGED = FLEET_CHANGED.with_label(
    "readings, labels, models or 10 minutes; events at most once a minute"
)
"""Not ``eager()``: that waits while any dep partition is missing, and a quarantined file's
``file_events`` partition stays missing for good."""

RECENT_LABELS = 20


class LabelEventConfig(dg.Config):
    """The label to give one event (ids as `pm-pipeline events` lists them)."""

    event_id: int
    label: str
    """confirmed, false-alarm or new-normal."""
    note: str | None = None
    by: str = "dagster-ui"


@dg.asset(group_name="fleet", kinds={"sql"})
def event_labels(
    context: dg.AssetExecutionContext,
    config: LabelEventConfig,
    readings_db: ReadingsDatabaseResource,
) -> dg.MaterializeResult:
    """Engineers' labels on events (confirmed, false-alarm, new-normal), never overwritten:
    launch label_event_job with the event id and label to add one."""
    engine = readings_db.engine()
    try:
        done = label_event(engine, config.event_id, config.label, config.by, config.note)
    except PipelineError as error:  # an unknown label or event: the user's to correct
        raise dg.Failure(description=str(error), allow_retries=False) from error
    context.log.info(f"event {done.event_id} of {done.robot_id} labelled {done.label}")
    labels = read_labels(engine)
    shown = labels.tail(RECENT_LABELS)[
        [
            "event_id",
            "robot_id",
            "axis",
            "severity",
            "model_version",
            "label",
            "labelled_by",
            "labelled_at",
            "note",
        ]
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(labels),
            "labelled": f"event {done.event_id} of {done.robot_id}: {done.label}",
            "recent_labels": table_markdown(shown),
        }
    )


label_event_job = dg.define_asset_job(
    "label_event_job",
    selection=dg.AssetSelection.assets(event_labels),
    description="Label one event confirmed, false-alarm or new-normal (config: event_id, "
    "label, note, by).",
)


@dg.asset(
    group_name="fleet",
    deps=[file_events, synthetic_events, event_labels, maintenance_records],
    automation_condition=FLEET_CHANGED,
)
def fleet_health(
    readings_db: ReadingsDatabaseResource, settings: SettingsResource
) -> dg.MaterializeResult:
    """Which robots need you now: one status per robot (ALARM, WATCH, NO DATA, NO MODEL,
    STALE MODEL, OK) with open events, newest reading, model age and quarantined files."""
    loaded, engine = settings.loaded, readings_db.engine()
    rows = read_fleet_health(engine, readings_db.table(), load_fleet(loaded), loaded)
    maintenance = read_maintenance(engine).tail(RECENT_LABELS)
    return dg.MaterializeResult(
        metadata={
            "status": status_line(rows),
            "statuses": dg.MetadataValue.md(status_markdown(rows)),
            "fleet": fleet_table(rows),
            "dagster/row_count": len(rows),
            **{
                f"robots_{str(status).lower().replace(' ', '_')}": int(count)
                for status, count in rows["status"].value_counts().items()
            },
            "maintenance": table_markdown(
                maintenance[["robot_id", "performed_at", "note", "recorded_by"]]
            )
            if len(maintenance)
            else dg.MetadataValue.md("no maintenance recorded"),
        }
    )


def fleet_table(rows: pd.DataFrame) -> dg.TableMetadataValue:
    """Every robot's row as table metadata."""
    schema = dg.TableSchema(columns=[dg.TableColumn(column, "string") for column in ROW_COLUMNS])
    records = [
        dg.TableRecord({column: fleet_cell(row[column]) for column in ROW_COLUMNS})
        for row in rows.to_dict("records")
    ]
    return dg.MetadataValue.table(records, schema=schema)
