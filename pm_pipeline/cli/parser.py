"""The `pm-pipeline` argument parser: standard library only, so `--help` answers at once.

Each command names its handler as ``module:function``; :func:`pm_pipeline.cli.app.main`
imports that module only when the command runs, and with it pandas, SQLAlchemy and Dagster.
"""

import argparse
from pathlib import Path

from pm_pipeline.cli.loop_parser import (
    add_fleet_commands,
    add_label_action,
    add_maintenance_action,
    command,
)

DESCRIPTION = """\
Predictive maintenance for industrial robots: load controller exports, train per-axis
current models, score new exports for ALERT/ERROR events and trace every event to the model
and data behind it. Settings come from the environment (PM_DATABASE_URL, PM_STATE_DIR,
PM_AXIS_COUNT, PM_COLUMN_MAP, DAGSTER_HOME, ...); with none set, everything lives in
.pm_state/ under the current folder."""
EPILOG = "Run `pm-pipeline COMMAND --help` for a command's options."
PIPELINE = "pm_pipeline.cli.pipeline"
OPS = "pm_pipeline.cli.ops"
STORE = "pm_pipeline.cli.store"
PREFLIGHT = "pm_pipeline.cli.preflight"


def build_parser() -> argparse.ArgumentParser:
    """Every command and option, with the handler each command runs."""
    parser = argparse.ArgumentParser(
        prog="pm-pipeline",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        required=True, metavar="COMMAND", title="commands", dest="command"
    )
    _add_ingest(commands)
    _add_train(commands)
    _add_score(commands)
    _add_pipeline_commands(commands)
    _add_events(commands)
    _add_robots(commands)
    add_fleet_commands(commands)
    _add_models(commands)
    _add_lineage_replay(commands)
    _add_export(commands)
    _add_db(commands)
    return parser


_command = command
"""Shared with :mod:`pm_pipeline.cli.loop_parser`."""


def _robot_option(parser: argparse.ArgumentParser, inherited: bool = False) -> None:
    """``--robot``; ``inherited`` for an action whose command takes it too (``models --robot
    R activate V`` and ``models activate V --robot R`` both work)."""
    parser.add_argument(
        "--robot",
        metavar="ROBOT",
        default=argparse.SUPPRESS if inherited else None,
        help="robot id, as in robots.yaml (default: robot-1, or the robots file's only robot)",
    )


def _add_ingest(commands: argparse._SubParsersAction) -> None:
    ingest = _command(
        commands,
        "ingest",
        "load controller exports into the readings table",
        "Each file goes in whole or not at all; readings already stored are skipped.",
    )
    ingest.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="controller export (.csv or .csv.gz)"
    )
    _robot_option(ingest)
    ingest.set_defaults(handler="pm_pipeline.cli.app:_ingest", input_files=("files",))


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = _command(
        commands,
        "train",
        "fit a new model version on the stored readings and check it",
        "Runs Dagster's training and validation groups. A version that passes its checks on\n"
        "synthetic data becomes the active one. With no option, all stored readings are used.",
    )
    train.add_argument(
        "--last-days", type=float, metavar="DAYS", help="train on the newest DAYS days of readings"
    )
    train.add_argument(
        "--start", metavar="TIME", help="first reading to use, ISO 8601 (e.g. 2026-01-05T06:00Z)"
    )
    train.add_argument("--end", metavar="TIME", help="last reading to use, ISO 8601")
    train.add_argument("--limit", type=int, metavar="N", help="train on the newest N readings")
    train.add_argument(
        "--min-rows",
        type=int,
        metavar="N",
        help="promote a version trained on at least N readings (default: PM_MIN_TRAINING_ROWS)",
    )
    _robot_option(train)
    train.set_defaults(
        handler=f"{PIPELINE}:train", store_first=True, preflight=f"{PREFLIGHT}:check_training"
    )


def _add_score(commands: argparse._SubParsersAction) -> None:
    score = _command(
        commands,
        "score",
        "find the events in one export with the active model",
        "Stores the file's readings, detects its events and replaces any earlier events of\n"
        "the same file name. The file stays where it is.",
    )
    score.add_argument("file", type=Path, metavar="FILE", help="controller export to score")
    score.add_argument(
        "--events-csv", type=Path, metavar="OUT", help="also write the events to the CSV file OUT"
    )
    score.add_argument(
        "--model-version", metavar="VERSION", help="score with VERSION instead of the active one"
    )
    _robot_option(score)
    score.set_defaults(
        handler=f"{PIPELINE}:score",
        input_files=("file",),
        output_files=("events_csv",),
        preflight=f"{PREFLIGHT}:check_scoring_model",
    )


def _add_pipeline_commands(commands: argparse._SubParsersAction) -> None:
    run = _command(
        commands,
        "run",
        "demo end to end: sample data, ingest, train, score, summary",
        "Writes sample exports to data/ (once), then ingests, trains, scores and refreshes\n"
        "the views, and prints a summary read back from the database.",
    )
    run.set_defaults(handler=f"{PIPELINE}:run")
    dev = _command(
        commands,
        "dev",
        "open the Dagster UI and daemon on the local instance",
        "Runs `dagster dev -w workspace.yaml` from the project root; open\n"
        "http://127.0.0.1:3000 once it has started.",
    )
    dev.set_defaults(handler=f"{PIPELINE}:dev")
    demo = _command(
        commands,
        "fleet-demo",
        "set up three robots, two from the real exports in ../shared/data",
        "Needs the robots file `make fleet-demo` writes (PM_ROBOTS_FILE). Ingests and trains\n"
        "70% of each robot's readings and leaves the rest as files in each robot's folder of\n"
        "the drop folder, for the daemon of `make dev` to score.",
    )
    demo.add_argument(
        "--rows-per-file", type=int, default=500, metavar="N", help="readings per file (500)"
    )
    demo.set_defaults(handler="pm_pipeline.cli.fleet_demo:fleet_demo")


def _add_events(commands: argparse._SubParsersAction) -> None:
    events = _command(
        commands,
        "events",
        "list a robot's events, newest first",
        "Events found in scored exports (the synthetic verification set is left out), with\n"
        "the ids that `pm-pipeline lineage` takes.",
    )
    _robot_option(events)
    events.add_argument(
        "--since",
        metavar="TIME",
        help="only events still going at or after TIME, ISO 8601 (e.g. 2026-01-06T07:00:00Z)",
    )
    events.add_argument(
        "--severity", type=str.upper, choices=("ALERT", "ERROR"), help="only this severity"
    )
    events.add_argument(
        "--all-robots",
        action="store_true",
        help="every robot of the fleet (robots file and stored readings), not one",
    )
    events.add_argument(
        "--open",
        action="store_true",
        help="only events still going when the robot's stored readings end",
    )
    events.set_defaults(handler="pm_pipeline.cli.events:list_events")
    add_label_action(events)


def _add_robots(commands: argparse._SubParsersAction) -> None:
    robots = _command(
        commands,
        "robots",
        "list the robots: active model, newest reading, open events",
        "Every robot of the robots file (robots.yaml, or PM_ROBOTS_FILE), or the one default\n"
        "robot without one, then any robot with stored readings that the file does not list.",
    )
    robots.set_defaults(handler="pm_pipeline.cli.robots_command:list_robots")
    actions = robots.add_subparsers(metavar="ACTION", title="actions")
    remove = _command(
        actions,
        "remove",
        "remove a robot's Dagster partition made by mistake",
        "Deletes ROBOT from the robots partitions of the Dagster instance (a mistyped id that\n"
        "a run or the UI made one). Refused for a robot with stored readings or models, or\n"
        "listed in the robots file, unless --force; its stored data is never deleted.",
    )
    remove.add_argument("robot_id", metavar="ROBOT", help="the partition's robot id")
    remove.add_argument(
        "--force",
        action="store_true",
        help="remove the partition even though readings or models of the robot are stored",
    )
    remove.set_defaults(handler="pm_pipeline.cli.robots_command:remove_robot")
    add_maintenance_action(actions)


def _add_models(commands: argparse._SubParsersAction) -> None:
    models = _command(
        commands,
        "models",
        "list model versions; activate one or ask which was active",
        "With no action, lists every version of the robot's models with its training window\n"
        "and checks; * marks the active one.",
    )
    _robot_option(models)
    models.set_defaults(handler=f"{OPS}:list_versions")
    actions = models.add_subparsers(metavar="ACTION", title="actions")
    activate = _command(actions, "activate", "make VERSION the active model")
    activate.add_argument("version", metavar="VERSION", help="a version listed by `models`")
    activate.add_argument(
        "--force", action="store_true", help="activate it even if its checks failed"
    )
    _robot_option(activate, inherited=True)
    activate.set_defaults(handler=f"{OPS}:activate")
    active = _command(actions, "active", "print the active version, now or at a given time")
    active.add_argument(
        "--at", metavar="TIME", help="ISO 8601 time, e.g. 2026-01-06T07:00:00Z (default: now)"
    )
    _robot_option(active, inherited=True)
    active.set_defaults(handler=f"{OPS}:active")


def _add_lineage_replay(commands: argparse._SubParsersAction) -> None:
    lineage = _command(
        commands, "lineage", "trace an event to its model version, training data and runs"
    )
    lineage.add_argument(
        "event_id", type=int, metavar="EVENT_ID", help="an id listed by `pm-pipeline events`"
    )
    lineage.add_argument(
        "--robot",
        metavar="ROBOT",
        help="fail unless the event is this robot's (event ids are unique across robots)",
    )
    lineage.set_defaults(handler=f"{OPS}:lineage")
    replay = _command(
        commands,
        "replay",
        "play an export into a folder in timed chunks, like a live controller",
        "Point --to at the drop folder (PM_DROP_DIR) to watch the sensor score each chunk;\n"
        "with --robot, the chunks go to that robot's folder inside it.",
    )
    replay.add_argument("file", type=Path, metavar="FILE", help="controller export to replay")
    replay.add_argument(
        "--to", type=Path, required=True, metavar="DIR", help="folder to write the chunks into"
    )
    replay.add_argument(
        "--rows-per-file", type=int, default=500, metavar="N", help="readings per chunk (500)"
    )
    replay.add_argument(
        "--interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="pause between chunks (5)",
    )
    _robot_option(replay)
    replay.set_defaults(handler=f"{OPS}:replay", input_files=("file",), output_dirs=("to",))


def _add_export(commands: argparse._SubParsersAction) -> None:
    export = _command(
        commands,
        "export",
        "write readings, summaries and events to a folder",
        "Readings as CSV pages in DIR/readings/, data health, gaps, axis summary and events as\n"
        "CSV files, and the summaries in one workbook, pm_pipeline_summary.xlsx. Events are\n"
        "those of landed files; the synthetic verification sets' events only with\n"
        "--include-synthetic, marked in the origin column.",
    )
    export.add_argument(
        "--include-synthetic",
        action="store_true",
        help="add the synthetic verification sets' events to events.csv (origin column)",
    )
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write")
    _robot_option(export)
    export.add_argument(
        "--page-rows",
        type=int,
        default=100_000,
        metavar="N",
        help="readings per CSV page (100000)",
    )
    export.set_defaults(handler="pm_pipeline.cli.export:export", output_dirs=("out",))


def _add_db(commands: argparse._SubParsersAction) -> None:
    db = _command(
        commands,
        "db",
        "create or upgrade our own tables, or show their revision",
        "Our tables (pm_readings, pm_model_registry, pm_model_activations, pm_events,\n"
        "pm_ingested_files) live in PM_DATABASE_URL, in PM_STORE_SCHEMA when set. Run\n"
        "`db upgrade` once after installing or updating pm_pipeline; `make run` and `make dev`\n"
        "do it for you. The embedded SQLite file is upgraded on first use.",
    )
    actions = db.add_subparsers(metavar="ACTION", title="actions", required=True)
    upgrade = _command(actions, "upgrade", "bring our tables to the newest revision")
    upgrade.set_defaults(handler=f"{STORE}:upgrade")
    current = _command(
        actions, "current", "print our tables' revision and the newest (exit 1 when behind)"
    )
    current.set_defaults(handler=f"{STORE}:current")
    retain = _command(
        actions,
        "retain",
        "remove readings and rollups past their retention and make partitions ahead",
        "Readings older than PM_RETENTION_DAYS and rollups older than\n"
        "PM_ROLLUP_RETENTION_DAYS go (unset: kept for ever). On Postgres whole monthly\n"
        "partitions are dropped, once every reading in them is past the cutoff, and the\n"
        "partitions of the next PM_PARTITIONS_AHEAD_MONTHS months are made. The nightly\n"
        "readings_retention_schedule runs the same.",
    )
    retain.set_defaults(handler=f"{STORE}:retain")
