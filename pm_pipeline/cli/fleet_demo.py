"""`pm-pipeline fleet-demo`: three robots in one deployment, two of them real.

The Kawasaki RMBR4-2 and the UR3 exports in ``../shared/data`` (see its README) and one
simulated robot each get their own folder of the drop folder and their own entry in a robots
file. The first 70% of each robot's readings are ingested and trained on; the rest is cut
into files of ``--rows-per-file`` readings and left in the robot's folder, for the sensor to
score once ``make dev`` (which ``make fleet-demo`` runs next) starts the daemon.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pm_pipeline.cli.app import _database, ingest_file
from pm_pipeline.config.robots import load_fleet
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.simulation.sample import write_sample_exports

SHARED_DATA = Path("../shared/data")
KAWASAKI, UR3, SIMULATED = "kawasaki-rmbr4-2", "ur3-cobotops", "sim-robot-3"
EXPORTS = {KAWASAKI: "RMBR4-2_export_test.csv", UR3: "UR3_cobotops_part1.csv"}
ROBOTS_FILE = f"""\
# Written by `pm-pipeline fleet-demo`: three robots, two controller dialects.
robots:
  {KAWASAKI}: {{}}
  {UR3}:
    axis_count: 7
    column_map: {{time: Timestamp, axis_1: Current_J0, axis_2: Current_J1, axis_3: Current_J2,
                 axis_4: Current_J3, axis_5: Current_J4, axis_6: Current_J5, axis_7: Tool_current}}
    # Model inputs that never alarm: the joints' temperatures and speeds.
    context_columns: [Temperature_T0, Temperature_J1, Temperature_J2, Temperature_J3,
                      Temperature_J4, Temperature_J5, Speed_J0, Speed_J1, Speed_J2, Speed_J3,
                      Speed_J4, Speed_J5]
  {SIMULATED}: {{}}
"""
TRAINED_SHARE = 0.7


def fleet_demo(args: argparse.Namespace) -> int:
    from pm_pipeline.definitions import defs
    from pm_pipeline.defs.execution import local_instance, run_training

    settings = args.settings
    if not settings.robots_file.is_file():
        raise PipelineError(
            f"{settings.robots_file}: no robots file; `make fleet-demo` writes one and sets "
            "PM_ROBOTS_FILE to it."
        )
    fleet = load_fleet(settings)
    missing = [robot for robot in (KAWASAKI, UR3, SIMULATED) if robot not in fleet.robots]
    if missing:
        raise PipelineError(f"{fleet.source} lacks {', '.join(missing)}; delete it to rewrite.")
    staged = settings.state_dir / "fleet_demo"
    exports = {robot: SHARED_DATA / name for robot, name in EXPORTS.items()}
    for robot, path in exports.items():
        if not path.is_file():
            raise PipelineError(
                f"{path}: the real export of {robot} is not there; the demo reads the exports "
                "in ../shared/data (see its README)."
            )
    history, landed, _ = write_sample_exports(staged / SIMULATED)
    database, instance = _database(), local_instance()
    pieces = {robot: _lines(path) for robot, path in exports.items()}
    pieces[SIMULATED] = _lines(history)[0], _lines(history)[1] + _lines(landed)[1]
    for robot, (header, body) in pieces.items():
        # The simulated robot's held-back part is the sample's landed file, worn as in `run`.
        split = int(len(body) * TRAINED_SHARE) if robot != SIMULATED else len(_lines(history)[1])
        trained = staged / robot / "trained.csv"
        trained.parent.mkdir(parents=True, exist_ok=True)
        trained.write_text(header + "".join(body[:split]), encoding="utf-8")
        ingest_file(database, trained, fleet.robots[robot].export_format, robot)
        outcome = run_training(defs(), instance, {}, robot)
        if not outcome.success:
            print(f"error: training {robot} failed: {outcome.failure}", file=sys.stderr)
            return 1
        folder = settings.drop_dir / robot
        folder.mkdir(parents=True, exist_ok=True)
        rest = body[split:]
        # In the robot's own dialect, as its controller writes them.
        starts = range(0, len(rest), args.rows_per_file)
        for number, start in enumerate(starts, start=1):
            chunk = rest[start : start + args.rows_per_file]
            (folder / f"{robot}_{number:03d}.csv").write_text(header + "".join(chunk))
        print(f"{robot}: trained on {split} readings; {len(starts)} files waiting in {folder}")
    print("next: the UI (make dev with the same settings) scores the waiting files; pick a robot")
    print("      in the partitions of raw_readings, axis_models, file_events or open_events.")
    return 0


def _lines(path: Path) -> tuple[str, list[str]]:
    """The header line and the data lines of an export, line ends kept."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return lines[0], [line for line in lines[1:] if line.strip()]
