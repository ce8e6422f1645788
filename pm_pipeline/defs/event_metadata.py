"""What a scored file shows in the Dagster UI: its events as a table, its checks, and a link
from the model version to the materialization that produced it."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from urllib.parse import quote

import dagster as dg
import pandas as pd
from dagster._core.definitions.data_version import (
    DATA_VERSION_TAG,
    INPUT_DATA_VERSION_TAG_PREFIX,
    INPUT_EVENT_POINTER_TAG_PREFIX,
)

from pm_pipeline.core.detection.contributions import top_contributors
from pm_pipeline.db.event_lifecycle import EventChange
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
EVENT_CHANGES_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("event_id", "int", description="pm-pipeline lineage EVENT_ID"),
        dg.TableColumn(
            "change", "string", description="new, extended, escalated, resolved, start revised"
        ),
        dg.TableColumn("axis", "string"),
        dg.TableColumn("severity", "string"),
        dg.TableColumn("status", "string"),
        dg.TableColumn("start", "string", description="UTC"),
        dg.TableColumn("end", "string", description="UTC"),
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
            description="Fails, with severity ERROR, when the file holds an ERROR event or the "
            "robot still has an open one.",
        ),
        dg.AssetCheckSpec(
            ALERT_CHECK,
            asset=asset_key,
            partitions_def=partitions_def,
            description="Fails, with severity WARN, when the file holds an ALERT event or the "
            "robot still has an open one.",
        ),
    ]


def event_check_results(
    events: pd.DataFrame, robot_open: pd.DataFrame | None = None
) -> list[dg.AssetCheckResult]:
    """The two checks' verdicts on one file's stored events and the robot's open events.

    A clean file does not pass a check while the robot still has an open event of that
    severity from an earlier file: the badge shows the robot's state, not the file's alone.
    """
    counts = events["severity"].value_counts()
    errors, alerts = int(counts.get("ERROR", 0)), int(counts.get("ALERT", 0))
    still_open = robot_open if robot_open is not None else events.iloc[0:0]
    results = []
    for name, severity, in_file, level in (
        (ERROR_CHECK, dg.AssetCheckSeverity.ERROR, errors, "ERROR"),
        (ALERT_CHECK, dg.AssetCheckSeverity.WARN, alerts, "ALERT"),
    ):
        open_ids = [int(i) for i in still_open.loc[still_open["severity"] == level, "event_id"]]
        results.append(
            dg.AssetCheckResult(
                check_name=name,
                passed=in_file == 0 and not open_ids,
                severity=severity,
                metadata={
                    f"{level.lower()}_events": in_file,
                    f"robot_open_{level.lower()}_events": len(open_ids),
                },
                description=(
                    f"the robot has {len(open_ids)} open {level} event(s): "
                    + ", ".join(map(str, open_ids[:20]))
                )
                if open_ids
                else None,
            )
        )
    return results


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


THRESHOLD_RECORDS_PER_ROBOT = 5
"""Threshold materializations of a robot searched for the active version's: the active one is
the newest unless later candidates were refused."""


def model_version_link(
    instance: dg.DagsterInstance, version: str, ui_url: str
) -> dg.UrlMetadataValue | str:
    """A link to the ``axis_models`` materialization whose data version is ``version``, so the
    lineage of an event is followed by clicking; the bare version when none is recorded."""
    return _link_among(_model_records(instance), version, ui_url)


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
            limit=THRESHOLD_RECORDS_PER_ROBOT,
        ).records
        match = _with_version(records, version)
        if match is not None:
            tags.update(_provenance_tags(key, version, match))
    return tags


class RunLineage:
    """:func:`model_version_link` and :func:`threshold_provenance` for the robots of one run,
    in one query per asset key for the whole run rather than nine per robot (one per
    threshold and one for the model): a run of a fleet's files holds dozens of robots."""

    def __init__(self, instance: dg.DagsterInstance, robots: Sequence[str], ui_url: str) -> None:
        self.instance, self.ui_url = instance, ui_url
        self.robots = list(dict.fromkeys(robots))
        self._model_records: list[dg.EventLogRecord] | None = None
        self._threshold_records: dict[dg.AssetKey, list[dg.EventLogRecord] | None] = {}

    def link(self, version: str) -> dg.UrlMetadataValue | str:
        """As :func:`model_version_link`, from the model materializations read once."""
        if self._model_records is None:
            self._model_records = _model_records(self.instance)
        return _link_among(self._model_records, version, self.ui_url)

    def provenance(self, robot_id: str, version: str) -> dict[str, str]:
        """As :func:`threshold_provenance`; a robot whose records the run's query could not
        all hold (more than five each on average) is looked up on its own."""
        tags = {}
        for key in THRESHOLD_KEYS.values():
            records = self._thresholds_of(key)
            if records is None or robot_id not in self.robots:
                return threshold_provenance(self.instance, robot_id, version)
            mine = [r for r in records if r.partition_key == robot_id]
            match = _with_version(mine[:THRESHOLD_RECORDS_PER_ROBOT], version)
            if match is not None:
                tags.update(_provenance_tags(key, version, match))
        return tags

    def _thresholds_of(self, key: dg.AssetKey) -> list[dg.EventLogRecord] | None:
        """Every robot's newest threshold records of ``key``; None when the query's limit
        cut them short (then some robot's may be missing)."""
        if key not in self._threshold_records:
            limit = THRESHOLD_RECORDS_PER_ROBOT * len(self.robots)
            records = self.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=self.robots), limit=limit
            ).records
            self._threshold_records[key] = list(records) if len(records) < limit else None
        return self._threshold_records[key]


def _model_records(instance: dg.DagsterInstance) -> list[dg.EventLogRecord]:
    key = next(iter(AXIS_MODEL_KEYS.values()))
    return list(instance.fetch_materializations(key, limit=100).records)


def _link_among(
    records: Sequence[dg.EventLogRecord], version: str, ui_url: str
) -> dg.UrlMetadataValue | str:
    record = _with_version(records, version)
    if record is None:
        return version
    key = next(iter(AXIS_MODEL_KEYS.values()))
    path = "/".join(quote(part) for part in key.path)
    millis = int(record.timestamp * 1000)
    return dg.MetadataValue.url(f"{ui_url.rstrip('/')}/assets/{path}?view=events&time={millis}")


def _with_version(records: Sequence[dg.EventLogRecord], version: str) -> dg.EventLogRecord | None:
    """The newest of ``records`` whose data version is ``version``."""
    for record in records:
        materialization = record.asset_materialization
        if materialization and (materialization.tags or {}).get(DATA_VERSION_TAG) == version:
            return record
    return None


def _provenance_tags(key: dg.AssetKey, version: str, record: dg.EventLogRecord) -> dict[str, str]:
    name = key.to_user_string()
    return {
        f"{INPUT_DATA_VERSION_TAG_PREFIX}/{name}": version,
        f"{INPUT_EVENT_POINTER_TAG_PREFIX}/{name}": str(record.storage_id),
    }


def _iso(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_changes_table(report: Sequence[EventChange]) -> dg.TableMetadataValue:
    """Every event a scored file created or changed, and how, as table metadata."""
    records = [
        dg.TableRecord(
            {
                "event_id": change.event_id,
                "change": change.change,
                "axis": change.axis,
                "severity": change.severity,
                "status": change.status,
                "start": _iso(change.start),
                "end": _iso(change.end),
            }
        )
        for change in report[:MAX_TABLE_ROWS]
    ]
    return dg.MetadataValue.table(records, schema=EVENT_CHANGES_SCHEMA)


def describe_changes(report: Sequence[EventChange], limit: int = 20) -> str:
    """``event 12 axis_2 ALERT new; event 9 axis_3 ERROR escalated+extended`` (or "no event
    created or changed")."""
    if not report:
        return "no event created or changed"
    parts = [f"event {c.event_id} {c.axis} {c.severity} {c.change}" for c in report[:limit]]
    more = f"; {len(report) - limit} more" if len(report) > limit else ""
    return "; ".join(parts) + more
