"""What a scored file shows in the Dagster UI: its events as a table, its checks, and a link
from the model version to the materialization that produced it."""

from __future__ import annotations

import warnings
from urllib.parse import quote

import dagster as dg
import pandas as pd
from dagster._core.definitions.data_version import (
    DATA_VERSION_TAG,
    INPUT_DATA_VERSION_TAG_PREFIX,
    INPUT_EVENT_POINTER_TAG_PREFIX,
)

from pm_pipeline.core.detection.contributions import top_contributors
from pm_pipeline.defs.assets.training import AXIS_MODEL_KEYS, THRESHOLD_KEYS

ERROR_CHECK = "no_error_events"
ALERT_CHECK = "no_alert_events"
EVENT_TABLE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("event_id", "int", description="pm-pipeline lineage EVENT_ID"),
        dg.TableColumn("axis", "string"),
        dg.TableColumn("severity", "string", description="ALERT, or ERROR once escalated"),
        dg.TableColumn("status", "string", description="open: the readings so far may continue it"),
        dg.TableColumn("start", "string", description="UTC"),
        dg.TableColumn("end", "string", description="UTC"),
        dg.TableColumn("peak_z", "float"),
        dg.TableColumn(
            "channels", "string", description="which channels moved, largest share first"
        ),
        dg.TableColumn("model_version", "string"),
    ]
)
OPEN_EVENTS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("event_id", "int", description="pm-pipeline lineage EVENT_ID"),
        dg.TableColumn("axis", "string"),
        dg.TableColumn("severity", "string", description="ALERT, or ERROR once escalated"),
        dg.TableColumn("start", "string", description="UTC"),
        dg.TableColumn("last_seen", "string", description="UTC: the event's newest reading"),
        dg.TableColumn("peak_z", "float"),
        dg.TableColumn(
            "channels", "string", description="which channels moved, largest share first"
        ),
        dg.TableColumn("model_version", "string"),
        dg.TableColumn("source", "string", description="the landed file"),
    ]
)
SEVERITY_COLORS = {"ALERT": "orange", "ERROR": "crimson"}
"""SVG colour of each severity in inline plots, drawn bottom to top."""
MAX_TABLE_ROWS = 200
"""A file with more events lists the highest-severity, longest ones; the count is exact."""


def event_check_specs(asset_key: str, partitions_def: dg.PartitionsDefinition) -> list:
    """One check per severity, per file: the asset catalog then shows which files need
    attention (a failed ERROR check) and which only had alerts (a failed WARN check).

    Per-partition checks are a Dagster preview; its warning would print on every command that
    loads the definitions, so it is silenced here, where the choice is made.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return _check_specs(asset_key, partitions_def)


def _check_specs(asset_key: str, partitions_def: dg.PartitionsDefinition) -> list:
    return [
        dg.AssetCheckSpec(
            ERROR_CHECK,
            asset=asset_key,
            partitions_def=partitions_def,
            description="Fails, with severity ERROR, when the file holds an ERROR event.",
        ),
        dg.AssetCheckSpec(
            ALERT_CHECK,
            asset=asset_key,
            partitions_def=partitions_def,
            description="Fails, with severity WARN, when the file holds an ALERT event.",
        ),
    ]


def event_check_results(events: pd.DataFrame) -> list[dg.AssetCheckResult]:
    """The two checks' verdicts on one file's stored events."""
    counts = events["severity"].value_counts()
    errors, alerts = int(counts.get("ERROR", 0)), int(counts.get("ALERT", 0))
    return [
        dg.AssetCheckResult(
            check_name=ERROR_CHECK,
            passed=errors == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"error_events": errors},
        ),
        dg.AssetCheckResult(
            check_name=ALERT_CHECK,
            passed=alerts == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"alert_events": alerts},
        ),
    ]


def not_scored_check_results(reason: str) -> list[dg.AssetCheckResult]:
    """Both checks failed on a file of a batch that could not be scored, saying why."""
    return [
        dg.AssetCheckResult(
            check_name=name,
            passed=False,
            severity=severity,
            metadata={"not_scored": reason},
            description=f"not scored: {reason}",
        )
        for name, severity in (
            (ERROR_CHECK, dg.AssetCheckSeverity.ERROR),
            (ALERT_CHECK, dg.AssetCheckSeverity.WARN),
        )
    ]


def event_table(events: pd.DataFrame) -> dg.TableMetadataValue:
    """The stored events of one file, as Dagster table metadata (ids from the database)."""
    shown = events.sort_values(["severity", "duration_s"], ascending=[False, False])
    shown = shown.head(MAX_TABLE_ROWS).sort_values("start_ts")
    records = [
        dg.TableRecord(
            {
                "event_id": int(row["event_id"]),
                "axis": str(row["axis"]),
                "severity": str(row["severity"]),
                "status": str(row["status"]),
                "start": _iso(row["start_ts"]),
                "end": _iso(row["end_ts"]),
                "peak_z": round(float(row["z_peak"]), 2),
                "channels": top_contributors(row.get("contributions"), str(row["axis"])),
                "model_version": str(row["model_version"]),
            }
        )
        for row in shown.to_dict("records")
    ]
    return dg.MetadataValue.table(records, schema=EVENT_TABLE_SCHEMA)


def open_events_table(found: pd.DataFrame) -> dg.TableMetadataValue:
    """Open events (``pm_pipeline.db.events.open_events``), newest first, as table metadata."""
    shown = found.sort_values("start_ts", ascending=False).head(MAX_TABLE_ROWS)
    records = [
        dg.TableRecord(
            {
                "event_id": int(row["event_id"]),
                "axis": str(row["axis"]),
                "severity": str(row["severity"]),
                "start": _iso(row["start_ts"]),
                "last_seen": _iso(row["end_ts"]),
                "peak_z": round(float(row["z_peak"]), 2),
                "channels": top_contributors(row.get("contributions"), str(row["axis"])),
                "model_version": str(row["model_version"]),
                "source": str(row["source"]),
            }
        )
        for row in shown.to_dict("records")
    ]
    return dg.MetadataValue.table(records, schema=OPEN_EVENTS_SCHEMA)


def model_version_link(
    instance: dg.DagsterInstance, version: str, ui_url: str
) -> dg.UrlMetadataValue | str:
    """A link to the ``axis_models`` materialization whose data version is ``version``, so the
    lineage of an event is followed by clicking; the bare version when none is recorded."""
    key = next(iter(AXIS_MODEL_KEYS.values()))
    records = instance.fetch_materializations(key, limit=100).records
    for record in records:
        materialization = record.asset_materialization
        if materialization and (materialization.tags or {}).get(DATA_VERSION_TAG) == version:
            path = "/".join(quote(part) for part in key.path)
            millis = int(record.timestamp * 1000)
            return dg.MetadataValue.url(
                f"{ui_url.rstrip('/')}/assets/{path}?view=events&time={millis}"
            )
    return version


def threshold_provenance(
    instance: dg.DagsterInstance, robot_id: str, version: str
) -> dict[str, str]:
    """Dagster's provenance tags naming the robot's threshold materializations of ``version``,
    the inputs a file scored with it had: a materialization reported by an op carries them
    as a run of the ``file_events`` asset would, so its lineage in the UI is the same."""
    tags = {}
    for key in THRESHOLD_KEYS.values():
        records = instance.fetch_materializations(
            # The active version is the newest unless later candidates were refused.
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[robot_id]),
            limit=5,
        ).records
        for record in records:
            materialization = record.asset_materialization
            if materialization and (materialization.tags or {}).get(DATA_VERSION_TAG) == version:
                name = key.to_user_string()
                tags[f"{INPUT_DATA_VERSION_TAG_PREFIX}/{name}"] = version
                tags[f"{INPUT_EVENT_POINTER_TAG_PREFIX}/{name}"] = str(record.storage_id)
                break
    return tags


def _iso(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")
