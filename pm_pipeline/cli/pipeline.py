"""`pm-pipeline train`, `score`, `run` and `dev`: the Dagster jobs, run in-process."""

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

from pm_pipeline.cli.app import _database, ingest_file, print_notes
from pm_pipeline.cli.robot_choice import chosen_robot, robot_export_format
from pm_pipeline.cli.watch import RunWatcher, scoring_retries
from pm_pipeline.core.detection.contributions import contribution_shares, top_contributors
from pm_pipeline.core.schema import DEFAULT_ROBOT_ID, synthetic_source
from pm_pipeline.core.simulation.sample import planted_fault, write_sample_exports
from pm_pipeline.core.views.cells import neutralise_formulas
from pm_pipeline.db.engine import describe_url
from pm_pipeline.db.events import read_events
from pm_pipeline.db.readings import readings_span
from pm_pipeline.db.registry import active_model_version, load_model
from pm_pipeline.defs.resources import ReadingsDatabaseResource

SAMPLE_DIR = Path("data")
EXPORT_NOTES_METADATA = "export_notes"
"""Metadata key of ``file_events`` holding the parser's notes, printed by ``score``."""
EVENT_CSV_COLUMNS = [
    "event_id",
    "axis",
    "severity",
    "status",
    "change",
    "start",
    "end",
    "duration_s",
    "z_mean",
    "z_peak",
    "p_value",
    "model_version",
    "contributions",
    "top_contributors",
]


def train(args: argparse.Namespace) -> int:
    from pm_pipeline.definitions import defs
    from pm_pipeline.defs.execution import latest_metadata, local_instance, run_training

    robot = chosen_robot(args)
    instance = local_instance()
    window = {
        "last_days": args.last_days,
        "start": args.start,
        "end": args.end,
        "limit": args.limit,
    }
    config = {k: v for k, v in window.items() if v is not None}
    outcome = run_training(defs(), instance, config, robot, args.min_rows)
    if not outcome.success:
        # A version that fails its checks is stored but not promoted: say which and why.
        promotion = latest_metadata(
            instance, "synthetic_events", "promotion", outcome.run_id, robot
        )
        reason = f"{promotion}; the active version is unchanged" if promotion else outcome.failure
        print(f"error: training run {outcome.run_id} failed: {reason}", file=sys.stderr)
        return 1
    version = latest_metadata(instance, "synthetic_events", "model_version", partition=robot)
    recall = latest_metadata(instance, "synthetic_events", "recall", partition=robot)
    print(
        f"model version {version} of {robot} (run {outcome.run_id}); synthetic recall {recall:.2f}"
    )
    return 0


def score(args: argparse.Namespace) -> int:
    from pm_pipeline.definitions import defs
    from pm_pipeline.defs.execution import local_instance, scored_file_metadata

    robot = chosen_robot(args)
    robot_export_format(args, robot)  # a robot the robots file lacks fails before any run
    instance = local_instance()
    key, outcome = _watched_scoring(defs(), instance, args.file, args.model_version, robot)
    if not outcome.success:
        print(f"error: scoring run {outcome.run_id} failed: {outcome.failure}", file=sys.stderr)
        return 1
    partition, scored = scored_file_metadata(instance, outcome.run_id)
    notes = scored.get(EXPORT_NOTES_METADATA)
    print_notes(str(notes).splitlines() if notes else [])
    database = _database()
    events = read_events(database.engine(), key, robot)
    counts = events["severity"].value_counts()
    version = events["model_version"].iloc[0] if len(events) else args.model_version or "newest"
    print(
        f"{args.file}: {len(events)} events ({counts.get('ALERT', 0)} ALERT, "
        f"{counts.get('ERROR', 0)} ERROR) with model {version}; file_events partition "
        f"{partition!r} (robot|day)"
    )
    changed = scored.get("event_changes")
    changes = [dict(record.data) for record in changed.records] if changed is not None else []
    for change in changes:
        print(
            f"  event {change['event_id']} {change['axis']} {change['severity']} "
            f"{change['change']} ({change['status']}, {change['start']} to {change['end']})"
        )
    if args.events_csv:
        write_events_csv(events, args.events_csv, changes)
        print(f"events written to {args.events_csv}")
    return 0


def _watched_scoring(
    defs, instance, path: Path, model_version: str | None, robot_id: str = DEFAULT_ROBOT_ID
):
    """Score one file, with a progress bar and a line at once for each retry of the run."""
    import uuid

    from pm_pipeline.cli.progress import estimated_rows, progress_bar
    from pm_pipeline.defs.execution import run_scoring

    run_id = str(uuid.uuid4())
    with progress_bar(estimated_rows(path), "rows", f"scoring {path.name}") as bar:
        instance.add_event_listener(run_id, RunWatcher(scoring_retries(), bar))
        return run_scoring(defs, instance, path, model_version, run_id, robot_id)


def write_events_csv(events, path: Path, changes: list[dict] | None = None) -> None:
    """Write events with the documented columns, timestamps in ISO 8601 UTC and no text a
    spreadsheet would run as a formula: the file's own
    events and those of earlier files it changed, each with how it changed (``change``:
    new, extended, escalated, resolved, start revised, joined with ``+``; empty when the
    file left it as it was)."""
    from pm_pipeline.db.events import read_event

    how = {int(change["event_id"]): str(change["change"]) for change in changes or []}
    database = _database()
    earlier = [
        read_event(database.engine(), event_id)
        for event_id in how
        if event_id not in set(events["event_id"])
    ]
    if earlier:
        events = pd.concat([events, pd.DataFrame(earlier)], ignore_index=True)
    out = events.rename(columns={"start_ts": "start", "end_ts": "end"})
    out["change"] = out["event_id"].map(lambda event_id: how.get(int(event_id), ""))
    out["contributions"] = [
        json.dumps(dict(contribution_shares(value, axis)))
        for value, axis in zip(out["contributions"], out["axis"], strict=True)
    ]
    out["top_contributors"] = [
        top_contributors(value, axis)
        for value, axis in zip(out["contributions"], out["axis"], strict=True)
    ]
    for column in ("start", "end"):
        out[column] = pd.to_datetime(out[column], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path.parent.mkdir(parents=True, exist_ok=True)
    neutralise_formulas(out.sort_values("start")[EVENT_CSV_COLUMNS]).to_csv(path, index=False)


def dev(_args: argparse.Namespace) -> int:
    from pm_pipeline.defs.execution import prepare_local_home

    home = prepare_local_home()
    print(f"Dagster UI on the instance in {home}", flush=True)
    dagster = str(Path(sys.executable).parent / "dagster")
    os.execv(dagster, [dagster, "dev", "-w", "workspace.yaml"])


def run(args: argparse.Namespace) -> int:
    from pm_pipeline.definitions import defs
    from pm_pipeline.defs.execution import (
        latest_metadata,
        local_instance,
        run_training,
        run_views,
    )

    history, landed = SAMPLE_DIR / "sample_export.csv", SAMPLE_DIR / "sample_landed.csv"
    if not (history.exists() and landed.exists()):
        history, landed, _ = write_sample_exports(SAMPLE_DIR)
        print(f"generated sample exports {history} and {landed}")
    database = _database()
    result = ingest_file(database, history, args.settings.export_format, DEFAULT_ROBOT_ID)
    print(f"ingested {history}: {result.rows_added} rows added, {result.rows_present} present")
    instance = local_instance()
    outcome = run_training(defs(), instance, {})
    if not outcome.success:
        print(f"error: training run {outcome.run_id} failed: {outcome.failure}", file=sys.stderr)
        return 1
    key, scored = _watched_scoring(defs(), instance, landed, None)
    if not scored.success:
        print(f"error: scoring run {scored.run_id} failed: {scored.failure}", file=sys.stderr)
        return 1
    views = run_views(defs(), instance)
    if not views.success:
        print(f"error: views run {views.run_id} failed: {views.failure}", file=sys.stderr)
        return 1
    recall = latest_metadata(instance, "synthetic_events", "recall", partition=DEFAULT_ROBOT_ID)
    print_summary(database, recall, key)
    return 0


def print_summary(
    database: ReadingsDatabaseResource, recall: float | None, landed_key: str
) -> None:
    """What ``run`` produced, read back from the database it names."""
    engine, robot = database.engine(), DEFAULT_ROBOT_ID
    rows, first, last = readings_span(engine, database.table(), robot)
    version = active_model_version(engine, robot)
    model = load_model(engine, version)
    events = read_events(engine, landed_key, robot)
    synthetic = read_events(engine, synthetic_source(version), robot)
    fault = planted_fault()
    hits = events[
        (events["axis"] == fault.axis)
        & (events["start_ts"] <= fault.end)
        & (events["end_ts"] >= fault.start)
    ]
    print("\n== pm_pipeline summary ==")
    print(f"database     {describe_url(database.resolved_url)}, table {database.readings_table}")
    print(f"readings     {rows} rows for {robot}, {_iso(first)} to {_iso(last)}")
    print(
        f"model        version {version}, trained on {model.row_count} readings "
        f"({_iso(model.window_start)} to {_iso(model.window_end)})"
    )
    print("thresholds   axis     MinC_A   MaxC_A  sustain")
    for axis, fitted in model.axes.items():
        span = model.scaling.span(axis)
        print(
            f"             {axis}  {fitted.thresholds.min_c * span:7.3f}  "
            f"{fitted.thresholds.max_c * span:7.3f}  {fitted.thresholds.sustain_s:5.1f} s"
        )
    print(
        f"synthetic    recall {float(recall or 0):.2f} of injected runs; "
        f"{len(synthetic)} events on the synthetic set"
    )
    counts = events["severity"].value_counts()
    print(
        f"landed file  {landed_key}: {len(events)} events ({counts.get('ALERT', 0)} ALERT, "
        f"{counts.get('ERROR', 0)} ERROR)"
    )
    print(
        f"planted wear {fault.axis} x{fault.factor} from {_iso(fault.start)} to "
        f"{_iso(fault.end)}: {'caught' if len(hits) else 'MISSED'} ({len(hits)} events)"
    )
    print("next         make dev, then open http://127.0.0.1:3000 (Assets, Runs);")
    print(
        "             SQL: SELECT * FROM pm_events ORDER BY start_ts; "
        "SELECT * FROM pm_model_registry;"
    )


def _iso(value: pd.Timestamp | str | None) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else "-"
