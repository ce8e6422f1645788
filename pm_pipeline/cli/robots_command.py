"""`pm-pipeline robots`: every robot of the deployment, its model, newest reading, open events."""

import argparse

from pm_pipeline.db.migrate import open_configured_store
from pm_pipeline.db.schema import readings_table
from pm_pipeline.robots import load_fleet
from pm_pipeline.services.fleet import RobotOverview, overview_fleet

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
