"""`pm-pipeline models`, `lineage` and `replay`: living with the pipeline day to day."""

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.windows import parse_utc
from pm_pipeline.core.parsing.careful import parse_export
from pm_pipeline.core.simulation.replay import chunk_readings
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.events import read_event


def add_ops_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``models``, ``lineage`` and ``replay`` on the main parser."""
    models = commands.add_parser("models", help="list, activate and look up model versions")
    models.set_defaults(handler=_list_models)
    actions = models.add_subparsers(metavar="ACTION")
    activate = actions.add_parser("activate", help="make VERSION the active model")
    activate.add_argument("version", metavar="VERSION")
    activate.add_argument("--force", action="store_true", help="even if its checks failed")
    activate.set_defaults(handler=_activate)
    active = actions.add_parser("active", help="the active version, now or --at TIME")
    active.add_argument("--at", help="ISO 8601 time, e.g. 2026-01-06T07:00:00Z")
    active.set_defaults(handler=_active)
    lineage = commands.add_parser("lineage", help="trace an event to its model and data")
    lineage.add_argument("event_id", type=int, metavar="EVENT_ID")
    lineage.set_defaults(handler=_lineage)
    replay = commands.add_parser("replay", help="play an export into a folder in timed chunks")
    replay.add_argument("file", type=Path, metavar="FILE")
    replay.add_argument("--to", type=Path, required=True, metavar="DIR")
    replay.add_argument("--rows-per-file", type=int, default=500, metavar="N")
    replay.add_argument("--interval", type=float, default=5.0, metavar="SECONDS")
    replay.set_defaults(handler=_replay)


def _list_models(_args: argparse.Namespace) -> int:
    from pm_pipeline.db.registry import list_models
    from pm_pipeline.defs.resources import ReadingsDatabaseResource

    database = ReadingsDatabaseResource()
    entries = list_models(database.engine(), database.robot_id)
    if not entries:
        print(f"no model versions for {database.robot_id}; run `pm-pipeline train`.")
        return 0
    print(
        f"{'version':<14}{'created (UTC)':<22}{'training window (UTC)':<42}{'rows':>8}"
        f"  {'checks':<8}active"
    )
    for entry in entries:
        checks = entry.checks or {}
        verdict = "-" if not checks else ("passed" if checks.get("passed") else "FAILED")
        window = f"{_stamp(entry.window_start)} to {_stamp(entry.window_end)}"
        print(
            f"{entry.model_version:<14}{_stamp(entry.created_at):<22}{window:<42}"
            f"{entry.row_count:>8}  {verdict:<8}{'*' if entry.is_active else ''}"
        )
        for reason in checks.get("reasons", []):
            print(f"{'':<14}  failed: {reason}")
    return 0


def _activate(args: argparse.Namespace) -> int:
    from pm_pipeline.db.registry import activate_model, registry_entry
    from pm_pipeline.defs.resources import ReadingsDatabaseResource

    database = ReadingsDatabaseResource()
    engine = database.engine()
    entry = registry_entry(engine, args.version)
    if entry.checks and not entry.checks.get("passed") and not args.force:
        raise PipelineError(
            f"model version {args.version} failed its checks "
            f"({'; '.join(entry.checks.get('reasons', []))}); add --force to activate it anyway."
        )
    activate_model(engine, args.version, database.robot_id, "activated by hand")
    print(f"model version {args.version} is now active for {database.robot_id}")
    return 0


def _active(args: argparse.Namespace) -> int:
    from pm_pipeline.db.registry import active_model_version_at
    from pm_pipeline.defs.resources import ReadingsDatabaseResource

    database = ReadingsDatabaseResource()
    moment = parse_utc(args.at, "--at") if args.at else pd.Timestamp.now(tz="UTC")
    version = active_model_version_at(database.engine(), database.robot_id, moment)
    if version is None:
        print(f"no model version was active at {_stamp(moment)}")
        return 1
    print(version)
    return 0


def _lineage(args: argparse.Namespace) -> int:
    from pm_pipeline.db.registry import active_model_version_at, registry_entry
    from pm_pipeline.defs.resources import ReadingsDatabaseResource

    database = ReadingsDatabaseResource()
    engine = database.engine()
    event = read_event(engine, args.event_id)
    model = registry_entry(engine, event["model_version"])
    at_start = active_model_version_at(engine, database.robot_id, event["created_at"])
    lines = [
        f"event {args.event_id}: {event['severity']} on {event['axis']}, "
        f"{_stamp(event['start_ts'])} to {_stamp(event['end_ts'])} "
        f"({event['duration_s']:.0f} s, mean z {event['z_mean']:.2f}, peak z "
        f"{event['z_peak']:.2f}, p {event['p_value']:.2g})",
        f"  source        {event['source']}",
        f"  scored by run {event['run_id']} at {_stamp(event['created_at'])}",
        f"  model version {model.model_version}"
        + (
            " (the active version then)"
            if at_start == model.model_version
            else f" (chosen explicitly; active then: {at_start})"
        ),
        f"  trained on    {model.row_count} readings, {_stamp(model.window_start)} to "
        f"{_stamp(model.window_end)}, table {database.readings_table}",
        f"  trained by run {model.run_id} at {_stamp(model.created_at)}",
        f"  in Dagster    asset axis_models/{event['axis']} with data version "
        f"{model.model_version}; file_events partition {event['source']!r}",
    ]
    print("\n".join(lines))
    return 0


def _replay(args: argparse.Namespace) -> int:
    parsed = parse_export(args.file)
    for note in parsed.notes:
        print(f"warning: {note}", file=sys.stderr)
    readings = parsed.readings
    chunks = chunk_readings(readings, args.rows_per_file)
    args.to.mkdir(parents=True, exist_ok=True)
    for number, chunk in enumerate(chunks, start=1):
        target = args.to / f"{args.file.stem}_part{number:04d}.csv"
        write_export(chunk, target)  # written under a temporary name, then renamed
        progress = f"[{number}/{len(chunks)}] {target.name} ({len(chunk)} rows)"
        if sys.stdout.isatty():
            print(f"\r{progress}", end="", flush=True)
        else:
            print(progress, flush=True)
        if number < len(chunks):
            time.sleep(args.interval)
    print(f"\nreplayed {len(readings)} readings into {len(chunks)} files in {args.to}")
    return 0


def _stamp(value: object) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[arg-type]
