"""Two robots with the same training readings each train, register and activate a model
version of their own: a version hashes its robot in, and the registry is keyed by robot and
version, so neither robot's version is the other's."""

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline_tests import commands
from pm_pipeline_tests.in_process import run_main

pytestmark = pytest.mark.slow

ROBOTS = ("r01", "r02")


def test_two_robots_with_the_same_readings_both_train_and_activate(
    robot_day: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "shared.csv"
    write_export(robot_day.iloc[:3000], export)
    env = {"PM_STATE_DIR": str(tmp_path / "state"), **commands.PLUMBING_MODE}
    # The first robot through the real commands; the second through the same entry point
    # in this process (the code location imported once, not three times more).
    runs = {
        "r01": lambda *args: commands.run_cli(*args, cwd=tmp_path, env=commands.clean_env(env)),
        "r02": lambda *args: run_main(*args, env=env, cwd=tmp_path, capsys=capsys),
    }
    versions = {}
    for robot in ROBOTS:
        runs[robot]("ingest", "--robot", robot, export)
        trained = runs[robot]("train", "--robot", robot)
        versions[robot] = trained.stdout.split()[2]
        active = runs[robot]("models", "active", "--robot", robot)
        assert active.stdout.strip() == versions[robot]
    assert versions["r01"] != versions["r02"]
    with sqlite3.connect(tmp_path / "state" / "readings.db") as connection:
        rows = connection.execute(
            "SELECT robot_id, model_version, is_active FROM pm_model_registry ORDER BY robot_id"
        ).fetchall()
        activations = connection.execute(
            "SELECT robot_id, model_version FROM pm_model_activations ORDER BY robot_id"
        ).fetchall()
    assert rows == [(robot, versions[robot], 1) for robot in ROBOTS]
    assert activations == [(robot, versions[robot]) for robot in ROBOTS]
