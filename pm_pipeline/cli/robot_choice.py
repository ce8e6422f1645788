"""Which robot a command works on: ``--robot``, else the fleet's default robot."""

from __future__ import annotations

import argparse

from pm_pipeline.config.robots import check_robot_id, load_fleet
from pm_pipeline.core.parsing.format import ExportFormat


def chosen_robot(args: argparse.Namespace, known: bool = True) -> str:
    """``--robot`` when given, else the robot the fleet means by default.

    With ``known`` (every command but ``ingest``, which is how a robot's readings first
    arrive), the robot must be in the robots file or have stored readings or models: a
    mistyped id stops here, before any run or partition is made for it.

    Raises
    ------
    RobotsFileError
        When the id is not usable, or the robots file lists several robots and none was named.
    PipelineError
        When ``known`` and nothing knows the robot.
    """
    robot = getattr(args, "robot", None)
    fleet = load_fleet(args.settings)
    if robot is None:
        return fleet.default_robot_id()
    check_robot_id(robot)
    if not known or robot in fleet.robots:
        return robot
    from pm_pipeline.db.migrate import open_configured_store
    from pm_pipeline.db.schema import readings_table
    from pm_pipeline.services.fleet import check_known_robot

    return check_known_robot(open_configured_store(args.settings), readings_table(), fleet, robot)


def robot_export_format(args: argparse.Namespace, robot_id: str) -> ExportFormat:
    """How ``robot_id``'s exports read (its robots-file entry, else the settings).

    Raises
    ------
    RobotsFileError
        When a robots file is in use and does not list the robot.
    """
    return load_fleet(args.settings).export_format_for(robot_id, args.settings.export_format)
