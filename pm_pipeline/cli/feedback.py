"""`pm-pipeline events label`, `robots maintenance`, `fleet` and `quarantine`: the engineer's
loop (see docs/loop.md)."""

from __future__ import annotations

import argparse
import getpass
import sys

import pandas as pd

from pm_pipeline.config.robots import check_robot_id, load_fleet
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.windows import parse_utc
from pm_pipeline.core.views.fleet import EXIT_UNKNOWN, fleet_cell, fleet_exit_code, status_line
from pm_pipeline.db.migrate import open_configured_store
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.feedback import label_event, record_maintenance
from pm_pipeline.services.fleet import check_known_robot
from pm_pipeline.services.notifications import alert_routing
from pm_pipeline.services.quarantine import list_quarantined, retry_quarantined

FLEET_COLUMNS = (
    ("robot", "robot"),
    ("status", "status"),
    ("why", "why"),
    ("ERROR", "open_errors"),
    ("ALERT", "open_alerts"),
    ("newest reading (UTC)", "newest_reading"),
    ("age", "reading_age"),
    ("model", "model"),
    ("model age", "model_age"),
    ("quarantined 24h", "quarantined_24h"),
    ("precision", "precision"),
)


def label(args: argparse.Namespace) -> int:
    """Append a label to an event; print what it does to the robot's next model."""
    engine = open_configured_store(args.settings)
    done = label_event(engine, args.event_id, args.label, args.by or _user(), args.note)
    effect = {
        "confirmed": "its readings stay out of training",
        "false-alarm": "its readings go back into training as normal; it counts against the "
        "robot's precision",
        "new-normal": "the robot retrains on readings from the event's start on once enough "
        "are stored (baseline_retraining_sensor); `pm-pipeline fleet` shows the wait",
    }[done.label]
    _report_to_dagster("event_labels", {"event_id": done.event_id, "label": done.label})
    print(f"event {done.event_id} of {done.robot_id} labelled {done.label}: {effect}")
    return 0


def maintenance(args: argparse.Namespace) -> int:
    """Record work on a robot; its open events before then are resolved."""
    robot = check_robot_id(args.robot_id)
    at = parse_utc(args.at, "--at")
    engine = open_configured_store(args.settings)
    # A mistyped robot would get a record that nothing shows and no model uses.
    check_known_robot(engine, readings_table(), load_fleet(args.settings), robot)
    routing = alert_routing(args.settings)
    resolved = record_maintenance(engine, robot, at, args.by or _user(), args.note, routing)
    _report_to_dagster(
        "maintenance_records",
        {"robot": robot, "performed_at": at.isoformat(), "note": args.note or ""},
    )
    print(
        f"maintenance of {robot} at {at:%Y-%m-%dT%H:%M:%SZ} recorded; "
        f"{len(resolved)} open event(s) resolved"
        + (f" ({', '.join(map(str, resolved))})" if resolved else "")
        + "; the next model trains on readings after it"
        + ("; the resolutions are queued as notifications" if resolved and routing else "")
    )
    return 0


def fleet(args: argparse.Namespace) -> int:
    """List every robot's status; with --check, exit like a monitoring plugin."""
    from pm_pipeline.services.fleet_health import fleet_health

    try:
        engine = open_configured_store(args.settings)
        rows = fleet_health(engine, readings_table(), load_fleet(args.settings), args.settings)
    except PipelineError as error:
        if not args.check:
            raise
        print(f"FLEET UNKNOWN: {error}")
        return EXIT_UNKNOWN
    print(status_line(rows))
    if not rows.empty:
        print(_table(rows))
    return fleet_exit_code(list(rows["status"])) if args.check else 0


def quarantine(args: argparse.Namespace) -> int:
    """List quarantined files, or put one back with --retry."""
    drop = args.settings.drop_dir
    if args.retry:
        robot = check_robot_id(args.robot) if args.robot else None
        moved = retry_quarantined(drop, args.retry, robot)
        print(f"{args.retry} is back at {moved}; the sensor scores it at its next tick")
        return 0
    found = list_quarantined(drop)
    if args.robot:
        found = [q for q in found if q.robot_id == args.robot]
    if not found:
        print(f"no quarantined files in {drop}")
        return 0
    for q in found:
        print(f"{q.quarantined_at:%Y-%m-%dT%H:%M:%SZ}  {q.robot_id}  {q.name}  {q.reason}")
    print(f"{len(found)} quarantined file(s); fix one and put it back with --retry NAME")
    return 0


def _table(rows: pd.DataFrame) -> str:
    cells = [
        [fleet_cell(row[field]) for _, field in FLEET_COLUMNS] for row in rows.to_dict("records")
    ]
    widths = [
        max(len(title), *(len(r[i]) for r in cells)) for i, (title, _) in enumerate(FLEET_COLUMNS)
    ]
    lines = [[title for title, _ in FLEET_COLUMNS], *cells]
    return "\n".join(
        "  ".join(f"{text:<{width}}" for text, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _report_to_dagster(asset: str, metadata: dict) -> None:
    """Tell the Dagster instance the asset changed, so fleet_health refreshes and the UI
    shows it; the change is stored already, so a Dagster that cannot be reached only warns."""
    try:
        import dagster as dg

        from pm_pipeline.defs.execution import local_instance

        instance = local_instance()
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=asset, metadata=metadata)
        )
    except Exception as error:
        print(f"warning: could not tell Dagster ({type(error).__name__}): {error}", file=sys.stderr)
