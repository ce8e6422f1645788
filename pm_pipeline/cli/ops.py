"""`pm-pipeline models`, `lineage` and `replay`: living with the pipeline day to day.

Their options are in :mod:`pm_pipeline.cli.parser`."""

import argparse
import sys
import time

import pandas as pd
from sqlalchemy import Engine

from pm_pipeline.cli.progress import progress_bar
from pm_pipeline.cli.robot_choice import chosen_robot, robot_export_format
from pm_pipeline.core.detection.registry import detector_for
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.windows import parse_utc
from pm_pipeline.core.parsing.careful import parse_export
from pm_pipeline.core.schema import DEFAULT_ROBOT_ID, is_synthetic_source
from pm_pipeline.core.simulation.replay import chunk_readings
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.events import read_event
from pm_pipeline.db.migrate import open_configured_store
from pm_pipeline.db.registry import (
    RegistryEntry,
    activate_model,
    active_model_version_at,
    list_models,
    load_model,
    registry_entry,
)
from pm_pipeline.db.schema import DEFAULT_READINGS_TABLE


def list_versions(args: argparse.Namespace) -> int:
    robot = chosen_robot(args)
    entries = list_models(open_configured_store(args.settings), robot)
    if not entries:
        print(f"no model versions for {robot}; run `pm-pipeline train --robot {robot}`.")
        return 0
    engine = open_configured_store(args.settings)
    print(f"model versions of {robot}")
    print(
        f"{'version':<14}{'created (UTC)':<22}{'training window (UTC)':<42}{'rows':>8}"
        f"{'excluded':>10}  {'method':<8}{'checks':<8}active"
    )
    methods: dict[str, None] = {}
    for entry in entries:
        checks = entry.checks or {}
        verdict = "-" if not checks else ("passed" if checks.get("passed") else "FAILED")
        window = f"{_stamp(entry.window_start)} to {_stamp(entry.window_end)}"
        # Versions registered before exclusion was recorded have no count.
        excluded = entry.metrics.get("excluded_readings", "-")
        method = _method(engine, entry)
        methods[method] = None
        print(
            f"{entry.model_version:<14}{_stamp(entry.created_at):<22}{window:<42}"
            f"{entry.row_count:>8}{excluded:>10}  {method:<8}{verdict:<8}"
            f"{'*' if entry.is_active else ''}"
        )
        for reason in checks.get("reasons", []):
            print(f"{'':<14}  failed: {reason}")
        if entry.metrics.get("context_columns"):
            named = ", ".join(f"{k}={v}" for k, v in entry.metrics["context_columns"].items())
            print(f"{'':<14}  context: {named}")
    for method in methods:
        print(f"method {method}: {detector_for(method).describe().scores}")
    return 0


def _method(engine: Engine, entry: RegistryEntry) -> str:
    """The detector mode of a registry entry: recorded with it, or (versions registered
    before it was) read from the stored model."""
    recorded = entry.metrics.get("method")
    if recorded:
        return str(recorded)
    return load_model(engine, entry.model_version).params.mode


def activate(args: argparse.Namespace) -> int:
    engine, robot = open_configured_store(args.settings), chosen_robot(args)
    entry = registry_entry(engine, args.version)
    if entry.checks and not entry.checks.get("passed") and not args.force:
        raise PipelineError(
            f"model version {args.version} failed its checks "
            f"({'; '.join(entry.checks.get('reasons', []))}); add --force to activate it anyway."
        )
    activate_model(engine, args.version, robot, "activated by hand")
    print(f"model version {args.version} is now active for {robot}")
    return 0


def active(args: argparse.Namespace) -> int:
    robot = chosen_robot(args)
    moment = parse_utc(args.at, "--at") if args.at else pd.Timestamp.now(tz="UTC")
    version = active_model_version_at(open_configured_store(args.settings), robot, moment)
    if version is None:
        print(f"no model version of {robot} was active at {_stamp(moment)}")
        return 1
    print(version)
    return 0


def lineage(args: argparse.Namespace) -> int:
    engine = open_configured_store(args.settings)
    event = read_event(engine, args.event_id)
    robot = str(event["robot_id"])
    if args.robot is not None and args.robot != robot:
        raise PipelineError(
            f"event {args.event_id} is {robot}'s, not {args.robot}'s; list {args.robot}'s "
            f"events with `pm-pipeline events --robot {args.robot}`."
        )
    model = registry_entry(engine, event["model_version"])
    at_start = active_model_version_at(engine, robot, event["created_at"])
    synthetic = is_synthetic_source(event["source"])
    lines = [
        f"event {args.event_id}: {event['severity']} on {robot} {event['axis']}, "
        f"{_stamp(event['start_ts'])} to {_stamp(event['end_ts'])} "
        f"({event['duration_s']:.0f} s, mean z {event['z_mean']:.2f}, peak z "
        f"{event['z_peak']:.2f}, p {event['p_value']:.2g})",
        f"  status        {_status(event)}",
        f"  source        {_source(event['source'], model.model_version)}",
        # The event's first store, not the run's time: a rescore keeps an event's row.
        f"  scored by run {event['run_id']}; event first stored {_stamp(event['created_at'])}",
        f"  model version {model.model_version}"
        + (
            " (being verified before promotion)"
            if synthetic
            else " (the active version then)"
            if at_start == model.model_version
            else f" (chosen explicitly; active then: {at_start})"
        ),
        f"  trained on    {model.row_count} readings{_excluded(model.metrics)}, "
        f"{_stamp(model.window_start)} to "
        f"{_stamp(model.window_end)}, table {DEFAULT_READINGS_TABLE}",
        f"  trained by run {model.run_id} at {_stamp(model.created_at)}",
        f"  in Dagster    asset axis_models/{event['axis']} with data version "
        f"{model.model_version}; "
        + (
            f"the synthetic_events materialization of run {event['run_id']}"
            if synthetic
            else f"the file_events materialization of file {event['source']!r} by run "
            f"{event['run_id']}, in its partition of robot {robot!r} and the day it landed"
        ),
    ]
    lines += _feedback_lines(engine, event)
    print("\n".join(lines))
    return 0


def _feedback_lines(engine, event: pd.Series) -> list[str]:
    """The event's labels, newest last (also those given to it before a rescore stored it
    again), and the robot's maintenance records."""
    from pm_pipeline.core.feedback.labels import labels_of_event
    from pm_pipeline.db.feedback import read_labels, read_maintenance

    robot = str(event["robot_id"])
    labels = labels_of_event(read_labels(engine, robot), event)
    lines = [_label_line(label, event) for label in labels.to_dict("records")] or [
        f"  labelled      not yet: `pm-pipeline events label {event['event_id']} LABEL`"
    ]
    lines += [
        f"  maintenance   {_stamp(row.performed_at)} by {row.recorded_by}"
        + (f": {row.note}" if row.note else "")
        + " (its next model trains on readings after it)"
        for row in read_maintenance(engine, robot).itertuples()
    ]
    return lines


def _label_line(label: dict, event: pd.Series) -> str:
    """One label; when the event has changed since (escalated, or stored again by a rescore),
    what it was when labelled."""
    line = f"  labelled      {label['label']} by {label['labelled_by']} at " + _stamp(
        label["labelled_at"]
    )
    if isinstance(label["note"], str) and label["note"]:
        line += f" ({label['note']})"
    version = label["model_version"]
    judged = (int(label["event_id"]), version, label["severity"])
    now = (int(event["event_id"]), event["model_version"], event["severity"])
    if not isinstance(version, str):  # given before labels recorded what they judged
        judged, now = judged[:1], now[:1]
    if judged != now:
        line += f"; given when it was event {label['event_id']}"
        if isinstance(version, str):
            line += f", an {label['severity']} of model version {version}"
    return line


def _excluded(metrics: dict) -> str:
    excluded = metrics.get("excluded_readings")
    return f" ({excluded} more inside stored events left out)" if excluded else ""


def _status(event: pd.Series) -> str:
    if event["status"] == "open":
        return "open (the readings so far may continue it)"
    why = event.get("resolution")
    reason = f"; {why}" if isinstance(why, str) and why else ""
    return f"resolved (recorded at {_stamp(event['resolved_at'])}{reason})"


def _source(source: str, version: str) -> str:
    if is_synthetic_source(source):
        return f"the synthetic verification set of model version {version} (not a landed file)"
    return source


def replay(args: argparse.Namespace) -> int:
    robot = chosen_robot(args)
    parsed = parse_export(args.file, robot_export_format(args, robot))
    for note in parsed.notes:
        print(f"warning: {note}", file=sys.stderr)
    readings = parsed.readings
    chunks = chunk_readings(readings, args.rows_per_file)
    # A robot's files land in its own folder of the drop folder; the default robot's at the top.
    folder = args.to if robot == DEFAULT_ROBOT_ID else args.to / robot
    folder.mkdir(parents=True, exist_ok=True)
    with progress_bar(len(chunks), "files", f"replaying {args.file.name}") as bar:
        for number, chunk in enumerate(chunks, start=1):
            target = folder / f"{args.file.stem}_part{number:04d}.csv"
            write_export(chunk, target)  # written under a temporary name, then renamed
            bar.update(1)
            if not sys.stdout.isatty():  # a log keeps a line per file; a terminal has the bar
                print(f"[{number}/{len(chunks)}] {target.name} ({len(chunk)} rows)", flush=True)
            if number < len(chunks):
                time.sleep(args.interval)
    print(f"replayed {len(readings)} readings into {len(chunks)} files in {folder}")
    return 0


def _stamp(value: object) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[arg-type]
