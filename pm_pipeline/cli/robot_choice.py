"""Which robot a command works on: ``--robot``, else the fleet's default robot."""

from __future__ import annotations

import argparse

from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.robots import check_robot_id, load_fleet


def chosen_robot(args: argparse.Namespace) -> str:
    """``--robot`` when given (any usable id: a robot known only from its stored readings
    can be listed and exported), else the robot the fleet means by default.

    Raises
    ------
    RobotsFileError
        When the id is not usable, or the robots file lists several robots and none was named.
    """
    robot = getattr(args, "robot", None)
    if robot is None:
        return load_fleet(args.settings).default_robot_id()
    return check_robot_id(robot)


def robot_export_format(args: argparse.Namespace, robot_id: str) -> ExportFormat:
    """How ``robot_id``'s exports read (its robots-file entry, else the settings).

    Raises
    ------
    RobotsFileError
        When a robots file is in use and does not list the robot.
    """
    return load_fleet(args.settings).export_format_for(robot_id, args.settings.export_format)
