"""One robot's part of our store, as one value for the use cases that work on a robot."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, Table


@dataclass(frozen=True)
class RobotStore:
    """Our database, the readings table in it, and the robot whose rows a use case reads
    and writes."""

    engine: Engine
    table: Table
    robot_id: str
