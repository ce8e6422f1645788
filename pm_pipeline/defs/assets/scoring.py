"""Scoring: events of each landed controller export, one dynamic partition per file."""

import dagster as dg

from pm_pipeline.core.detection import detect_events
from pm_pipeline.core.exports import read_export
from pm_pipeline.core.landing import landed_file_path
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.db.events import replace_events
from pm_pipeline.db.registry import active_model_version, load_model
from pm_pipeline.defs.assets.training import THRESHOLD_KEYS
from pm_pipeline.defs.metadata import readings_metadata
from pm_pipeline.defs.resources import ReadingsDatabaseResource

landed_files_partitions = dg.DynamicPartitionsDefinition(name="landed_files")


class FileEventsConfig(dg.Config):
    """The file to score (default: the partition key inside the drop folder) and the model
    version to score it with (default: the active one)."""

    path: str | None = None
    model_version: str | None = None


@dg.asset(
    group_name="scoring", partitions_def=landed_files_partitions, deps=list(THRESHOLD_KEYS.values())
)
def file_events(
    context: dg.AssetExecutionContext,
    config: FileEventsConfig,
    readings_db: ReadingsDatabaseResource,
) -> dg.MaterializeResult:
    """ALERT/ERROR events found in one landed controller export; they replace the file's
    earlier events in the events table."""
    path = landed_file_path(context.partition_key, config.path)
    readings = read_export(path)
    engine = readings_db.engine()
    version = config.model_version or active_model_version(engine, readings_db.robot_id)
    model = load_model(engine, version)
    events = detect_events(model, readings)
    stored = replace_events(
        engine, context.partition_key, events, version, context.run_id, readings_db.robot_id
    )
    context.log.info(f"{path}: {stored} events with model {version}")
    severities = events["severity"].value_counts() if len(events) else {}
    return dg.MaterializeResult(
        metadata={
            **readings_metadata(readings),
            "file": str(path),
            "file_sha256": file_sha256(path),
            "model_version": version,
            "events": int(stored),
            "alerts": int(severities.get("ALERT", 0)),
            "errors": int(severities.get("ERROR", 0)),
        },
    )
