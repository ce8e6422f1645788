"""Scoring: events of each landed controller export, one dynamic partition per file."""

from pathlib import Path

import dagster as dg

from pm_pipeline.core.errors import DatabaseUnavailable, PipelineError
from pm_pipeline.core.parsing.careful import check_export_header
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.db.events import read_events
from pm_pipeline.db.registry import active_model_version, load_model
from pm_pipeline.defs.assets.training import THRESHOLD_KEYS
from pm_pipeline.defs.event_metadata import (
    EVENT_TABLE_SCHEMA,
    event_check_results,
    event_check_specs,
    event_table,
    model_version_link,
)
from pm_pipeline.defs.metadata import readings_span_metadata
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline.services.landing import archive_file, landed_file_path, quarantine_file
from pm_pipeline.services.notifications import store_file_events
from pm_pipeline.services.scoring import ingest_and_detect
from pm_pipeline.settings import load_settings

landed_files_partitions = dg.DynamicPartitionsDefinition(name="landed_files")
SCORED_ROWS_LOG = "{rows} readings scored so far"
"""A debug line after each streamed piece: the run's progress, which `pm-pipeline score` shows."""


class FileEventsConfig(dg.Config):
    """Which file to score (default: the partition key inside the drop folder), with which
    model version (default: the active one), and whether to move it to archive/ afterwards
    (the sensor does; `pm-pipeline score` leaves your file where it is)."""

    path: str | None = None
    model_version: str | None = None
    archive: bool = False


@dg.asset(
    group_name="scoring",
    partitions_def=landed_files_partitions,
    deps=list(THRESHOLD_KEYS.values()),
    retry_policy=dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL),
    check_specs=event_check_specs("file_events", landed_files_partitions),
)
def file_events(
    context: dg.AssetExecutionContext,
    config: FileEventsConfig,
    readings_db: ReadingsDatabaseResource,
) -> dg.MaterializeResult:
    """ALERT/ERROR events of one landed controller export, scored as the continuation of the
    robot's stored readings. Its readings are ingested for the next retraining."""
    try:
        settings = load_settings()
        path = landed_file_path(context.partition_key, config.path, settings.drop_dir)
        fmt = settings.export_format
    except PipelineError as error:
        # A bad partition key or setting: the file is not at fault, so it stays put.
        raise dg.Failure(description=str(error), allow_retries=False) from error
    sha256 = _checked_file(path, fmt, quarantine=config.archive)
    try:
        engine = readings_db.engine()
        version = config.model_version or active_model_version(engine, readings_db.robot_id)
        model = load_model(engine, version)
    except DatabaseUnavailable:
        raise  # the retry policy tries again with backoff
    except PipelineError as error:
        # A user-fixable problem (no model yet, bad URL): retrying would not help.
        raise dg.Failure(description=str(error), allow_retries=False) from error
    try:
        scored = ingest_and_detect(
            engine,
            readings_db.table(),
            readings_db.robot_id,
            path,
            sha256,
            model,
            fmt,
            progress=lambda rows: context.log.debug(SCORED_ROWS_LOG.format(rows=rows)),
            max_model_age=settings.model_max_age,
        )
    except DatabaseUnavailable:
        raise
    except PipelineError as error:
        raise _bad_file(path, error, quarantine=config.archive) from error
    ingested = scored.ingest
    for note in scored.notes:
        context.log.warning(note)
    # The events and their notifications (when a channel is configured), in one transaction.
    written = store_file_events(
        engine,
        readings_db.robot_id,
        context.partition_key,
        scored,
        version,
        context.run_id,
        settings,
    )
    stored = written.events
    archived = archive_file(path, sha256) if config.archive else path
    how = "streamed" if scored.streamed else "read whole"
    context.log.info(
        f"{path.name}: {ingested.rows_in_file} rows {how}, {stored} events with model "
        f"{version}, {written.notifications} notification(s) queued; file at {archived}"
    )
    stored_events = read_events(engine, context.partition_key, readings_db.robot_id)
    severities = stored_events["severity"].value_counts()
    return dg.MaterializeResult(
        metadata={
            **readings_span_metadata(
                ingested.rows_in_file, ingested.first_time, ingested.last_time
            ),
            # The asset is the file's events: its row count is theirs, not the readings'.
            "dagster/row_count": int(stored),
            "dagster/column_schema": EVENT_TABLE_SCHEMA,
            "event_table": event_table(stored_events),
            "readings_in_file": int(ingested.rows_in_file),
            "file": str(archived),
            "file_sha256": sha256,
            "model_version": version,
            "model_version_link": model_version_link(
                context.instance, version, settings.dagster_ui_url
            ),
            "streamed": scored.streamed,
            "rows_added": int(ingested.rows_added),
            "rows_already_present": int(ingested.rows_present),
            "events": int(stored),
            "alerts": int(severities.get("ALERT", 0)),
            "errors": int(severities.get("ERROR", 0)),
            "notifications_queued": int(written.notifications),
            **({"export_notes": "\n".join(scored.notes)} if scored.notes else {}),
        },
        check_results=event_check_results(stored_events),
    )


def _checked_file(path: Path, fmt: ExportFormat, quarantine: bool) -> str:
    """The file's sha256 once its header reads as an export; a bad landed file is moved to
    quarantine/ before the run fails."""
    if not path.is_file():
        raise dg.Failure(
            description=f"{path}: no such file (already archived or quarantined?)",
            allow_retries=False,
        )
    sha256 = file_sha256(path)
    try:
        check_export_header(path, fmt)
    except PipelineError as error:
        raise _bad_file(path, error, quarantine) from error
    return sha256


def _bad_file(path: Path, error: PipelineError, quarantine: bool) -> dg.Failure:
    moved = quarantine_file(path, str(error)) if quarantine else path
    return dg.Failure(description=f"{error} (file now at {moved})", allow_retries=False)
