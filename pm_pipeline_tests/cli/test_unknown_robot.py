"""A mistyped robot id stops every command but `ingest` with one line, before any run or
partition is made for it; `robots remove` deletes a partition made by mistake, and refuses
one whose robot has stored data unless forced."""

from pathlib import Path

import pandas as pd
import pytest

from pm_pipeline.cli.app import main
from pm_pipeline.config.settings import load_settings
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.migrate import open_configured_store
from pm_pipeline.db.schema import readings_table
from pm_pipeline.defs.execution import add_robot, local_instance
from pm_pipeline.defs.partitions import ROBOTS


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An embedded store and Dagster home of its own, nothing configured."""
    for variable in ("PM_DATABASE_URL", "DAGSTER_PG_URL", "PM_ROBOTS_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "state" / "dagster_home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    return line


def robot_partitions() -> list[str]:
    with local_instance() as instance:
        return list(instance.get_dynamic_partitions(ROBOTS))


@pytest.mark.parametrize(
    "command",
    [
        ["train", "--robot", "robot-9"],
        ["events", "--robot", "robot-9"],
        ["score", "data.csv", "--robot", "robot-9"],
        ["models", "--robot", "robot-9"],
        ["export", "--robot", "robot-9", "--out", "out"],
    ],
)
def test_a_robot_nothing_knows_is_refused_before_any_run_or_partition(
    site: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (site / "data.csv").write_text("time,axis_1\n2026-01-01T00:00:00Z,1\n")
    assert main(command) == 1
    line = one_error(capsys)
    assert "robot 'robot-9' is unknown" in line
    assert "use one of robot-1" in line and "pm-pipeline ingest --robot robot-9" in line
    assert "robot-9" not in robot_partitions()
    with local_instance() as instance:
        assert instance.get_runs() == []


def test_a_robot_known_from_its_readings_is_served(
    site: Path, robot_day: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = open_configured_store(load_settings())
    ingest_readings(engine, readings_table(), robot_day.head(100), "robot-7", "a.csv", "a")
    assert main(["events", "--robot", "robot-7"]) == 0
    assert "no events" in capsys.readouterr().out


def test_robots_remove_deletes_a_partition_made_by_mistake(
    site: Path, robot_day: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    with local_instance() as instance:
        add_robot(instance, "robot-9")
        add_robot(instance, "robot-7")
    engine = open_configured_store(load_settings())
    ingest_readings(engine, readings_table(), robot_day.head(100), "robot-7", "a.csv", "a")
    assert main(["robots", "remove", "robot-9"]) == 0
    assert "removed robot 'robot-9'" in capsys.readouterr().out
    assert main(["robots", "remove", "robot-9"]) == 1
    assert "is not a partition; nothing to remove" in one_error(capsys)
    # A robot with stored readings is no mistake: refused, then removed when forced.
    assert main(["robots", "remove", "robot-7"]) == 1
    line = one_error(capsys)
    assert "100 of its readings are stored" in line and "--force" in line
    assert "robot-7" in robot_partitions()
    assert main(["robots", "remove", "robot-7", "--force"]) == 0
    assert "they stay" in capsys.readouterr().out
    assert "robot-7" not in robot_partitions()
    assert main(["events", "--robot", "robot-7"]) == 0  # its readings are still there


def test_robots_without_an_action_still_lists_them(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["robots"]) == 0
    assert "robot-1" in capsys.readouterr().out
