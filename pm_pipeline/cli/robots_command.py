"""`pm-pipeline robots`: every robot of the deployment, its model, newest reading, open events;
`pm-pipeline robots remove ROBOT`: a robot's partition made by mistake, gone."""

import argparse
import sys

from pm_pipeline.config.robots import load_fleet
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.db.migrate import open_configured_store
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.fleet import RobotOverview, overview_fleet, stored_for

TITLES = ("robot", "axes", "active model", "readings", "last reading (UTC)", "open events")


def list_robots(args: argparse.Namespace) -> int:
    """Print one line per robot; a robot with nothing stored yet is listed too."""
    fleet = load_fleet(args.settings)
    overviews = overview_fleet(open_configured_store(args.settings), readings_table(), fleet)
    rows = [_cells(overview) for overview in overviews]
    widths = [max(len(title), *(len(row[i]) for row in rows)) for i, title in enumerate(TITLES)]
    for line in [list(TITLES), *rows]:
        cells = zip(line, widths, strict=True)
        print("  ".join(f"{cell:<{width}}" for cell, width in cells).rstrip())
    source = f"robots file {fleet.source}" if fleet.source else "no robots file: one robot"
    unlisted = sum(overview.axis_count is None for overview in overviews)
    note = f"; {unlisted} with readings but not in the robots file (axes ?)" if unlisted else ""
    print(f"{len(overviews)} robots ({source}){note}")
    return 0


def _cells(overview: RobotOverview) -> list[str]:
    last = overview.last_reading
    return [
        overview.robot_id,
        "?" if overview.axis_count is None else str(overview.axis_count),
        overview.active_model or "none",
        str(overview.readings),
        last.strftime("%Y-%m-%dT%H:%M:%SZ") if last is not None else "none",
        str(overview.open_events),
    ]


def remove_robot(args: argparse.Namespace) -> int:
    """Delete ``args.robot_id`` from the robots partitions; its stored data stays."""
    from pm_pipeline.defs.execution import local_instance
    from pm_pipeline.defs.partitions import ROBOTS

    robot = args.robot_id
    instance = local_instance()
    partitions = instance.get_dynamic_partitions(ROBOTS)
    if robot not in partitions:
        raise PipelineError(
            f"robot {robot!r} is not a partition; nothing to remove (partitions: "
            f"{', '.join(partitions) or 'none'})."
        )
    fleet = load_fleet(args.settings)
    readings, models = stored_for(open_configured_store(args.settings), readings_table(), robot)
    reasons = [
        *([f"the robots file {fleet.source} lists it"] if robot in fleet.robots else []),
        *([f"{readings} of its readings are stored"] if readings else []),
        *([f"{models} model versions of it are stored"] if models else []),
    ]
    if reasons and not args.force:
        raise PipelineError(
            f"robot {robot!r} is not a mistake: {'; '.join(reasons)}. Not removing it; add "
            "--force to remove its partition anyway (stored data stays)."
        )
    instance.delete_dynamic_partition(ROBOTS, robot)
    kept = f"; {'; '.join(reasons)}: they stay" if reasons else ""
    print(f"removed robot {robot!r} from the robots partitions{kept}")
    if robot in fleet.robots:
        print(f"warning: the sensor adds it again while {fleet.source} lists it", file=sys.stderr)
    return 0
