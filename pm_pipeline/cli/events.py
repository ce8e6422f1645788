"""`pm-pipeline events`: a robot's events as a table, newest first, with their ids."""

import argparse

import pandas as pd

from pm_pipeline.cli.robot_choice import chosen_robot
from pm_pipeline.core.detection.contributions import top_contributors
from pm_pipeline.core.model.windows import parse_utc
from pm_pipeline.db.events import open_events, robot_events
from pm_pipeline.db.migrate import open_configured_store

COLUMNS = (
    ("id", ">", lambda e: str(e["event_id"])),
    ("robot", "<", lambda e: str(e["robot_id"])),
    ("axis", "<", lambda e: str(e["axis"])),
    ("severity", "<", lambda e: str(e["severity"])),
    ("start (UTC)", "<", lambda e: _stamp(e["start_ts"])),
    ("end (UTC)", "<", lambda e: _stamp(e["end_ts"])),
    ("duration", ">", lambda e: _duration(float(e["duration_s"]))),
    ("peak z", ">", lambda e: f"{float(e['z_peak']):.2f}"),
    ("channels", "<", lambda e: top_contributors(e.get("contributions"), str(e["axis"]))),
    ("model", "<", lambda e: str(e["model_version"])),
    ("status", "<", lambda e: str(e["status"])),
    ("source", "<", lambda e: str(e["source"])),
)


def list_events(args: argparse.Namespace) -> int:
    """Print the events matching the options; none is not an error."""
    since = parse_utc(args.since, "--since") if args.since else None
    engine = open_configured_store(args.settings)
    if args.all_robots:
        from pm_pipeline.config.robots import load_fleet
        from pm_pipeline.db.schema import readings_table
        from pm_pipeline.services.fleet_health import fleet_robot_ids

        robots = fleet_robot_ids(engine, readings_table(), load_fleet(args.settings))
        robot = "the fleet"
    else:
        robots = [chosen_robot(args)]
        robot = robots[0]
    found = pd.concat(
        [robot_events(engine, one, since, args.severity) for one in robots], ignore_index=True
    ).sort_values(["start_ts", "event_id"], ascending=False)
    if args.open:
        found = open_events(found)
    if found.empty:
        print(f"no {_described(args)} for {robot}")
        return 0
    print(format_table(found))
    print(
        f"{len(found)} {_described(args, len(found))} for {robot}; "
        "trace one with `pm-pipeline lineage ID`, label it with `pm-pipeline events label ID "
        "confirmed|false-alarm|new-normal`"
    )
    return 0


def format_table(found: pd.DataFrame) -> str:
    """Aligned columns, one event per line."""
    rows = [[cell(event) for _, _, cell in COLUMNS] for event in found.to_dict("records")]
    widths = [
        max(len(title), *(len(row[i]) for row in rows)) for i, (title, _, _) in enumerate(COLUMNS)
    ]
    lines = [[title for title, _, _ in COLUMNS], *rows]
    return "\n".join(
        "  ".join(
            f"{text:{align}{width}}"
            for text, (_, align, _), width in zip(line, COLUMNS, widths, strict=True)
        ).rstrip()
        for line in lines
    )


def _described(args: argparse.Namespace, count: int = 0) -> str:
    words = ["open" if args.open else "", args.severity or "", "event" if count == 1 else "events"]
    since = f" ending at or after {_stamp(parse_utc(args.since, '--since'))}" if args.since else ""
    return " ".join(word for word in words if word) + since


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _stamp(value: object) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[arg-type]
