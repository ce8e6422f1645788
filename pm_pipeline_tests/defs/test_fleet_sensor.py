"""The drop folder of a fleet: each robot's folder is routed to that robot's partitions, in
that robot's dialect; a robot the robots file does not list is quarantined with the reason."""

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from pm_pipeline.core.landing.batches import scoring_lane
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.services.landing import archive_file, judge_landed_file, list_landed_files
from pm_pipeline_tests.defs.test_sensor import added_partitions, export_text, land, requests, tick

FLEET = """\
robots:
  kawasaki-1: {}
  ur3-1:
    axis_count: 7
    column_map: {time: Timestamp, axis_1: Current_J0, axis_2: Current_J1, axis_3: Current_J2,
                 axis_4: Current_J3, axis_5: Current_J4, axis_6: Current_J5, axis_7: Tool_current}
"""
UR3_HEADER = "Timestamp;" + ";".join(f"Current_J{j}" for j in range(6)) + ";Tool_current\n"


def ur3_text(first_second: int, rows: int = 5) -> str:
    body = "".join(
        f"2022-10-26T08:17:{first_second + i:02d}.000Z;"
        + ";".join(f"-0,{j}5" for j in range(6))
        + ";0,11\n"
        for i in range(rows)
    )
    return UR3_HEADER + body


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    robots_file = tmp_path / "robots.yaml"
    robots_file.write_text(FLEET)
    monkeypatch.setenv("PM_ROBOTS_FILE", str(robots_file))
    return robots_file


def test_every_robot_folder_of_a_lane_goes_into_one_run_each_file_with_its_robot(
    drop: Path, fleet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PM_SCORING_LANES", "1")
    for robot in ("kawasaki-1", "ur3-1"):
        (drop / robot).mkdir()
    kawasaki = [land(drop / "kawasaki-1", f"k{n}.csv", export_text(n), 60 - n) for n in range(3)]
    ur3 = land(drop / "ur3-1", "u0.csv", ur3_text(0), 50)
    with dg.instance_for_test() as instance:
        result = tick(instance)
    [run] = requests(result)
    assert run.tags["pm/robots"] == "kawasaki-1,ur3-1"
    assert run.tags["pm/scoring_lane"] == "lane-0"
    assert "pm/robot" not in run.tags  # a scoring run never queues behind a retraining
    assert run_files(run) == [
        *(("kawasaki-1", f"k{n}.csv", str(path)) for n, path in enumerate(kawasaki)),
        ("ur3-1", "u0.csv", str(ur3)),
    ]
    added = added_partitions(result)
    # Robots only: files never become partitions, and days are a time window.
    assert added == {"robots": ["kawasaki-1", "ur3-1"]}  # the robots file's, in its order


def test_robots_of_different_lanes_go_into_runs_of_their_lanes(drop: Path, fleet: Path) -> None:
    for robot in ("kawasaki-1", "ur3-1"):
        (drop / robot).mkdir()
    land(drop / "kawasaki-1", "k0.csv", export_text(0), 60)
    land(drop / "ur3-1", "u0.csv", ur3_text(0), 50)
    land(drop / "kawasaki-1", "k1.csv", export_text(1), 40)
    with dg.instance_for_test() as instance:
        result = tick(instance)  # PM_SCORING_LANES is 2 by default
    lanes = {run.tags["pm/scoring_lane"]: run_files(run) for run in requests(result)}
    assert lanes.keys() == {"lane-0", "lane-1"}  # the two robots hash to different lanes
    kawasaki = lanes[scoring_lane("kawasaki-1", 2)]
    assert [(robot, key) for robot, key, _ in kawasaki] == [
        ("kawasaki-1", "k0.csv"),
        ("kawasaki-1", "k1.csv"),
    ]
    assert [key for _, key, _ in lanes[scoring_lane("ur3-1", 2)]] == ["u0.csv"]


def test_a_lane_whose_next_run_waits_holds_its_new_files_for_the_run_after(
    drop: Path, fleet: Path
) -> None:
    """At most two runs of a lane are in flight, one scoring and the next one starting: files
    landing meanwhile fill the run after, rather than each tick queuing one more run (each a
    process start-up) behind them."""
    for robot in ("kawasaki-1", "ur3-1"):
        (drop / robot).mkdir()
    land(drop / "kawasaki-1", "k0.csv", export_text(0), 60)
    with dg.instance_for_test() as instance:
        [first] = requests(tick(instance))
        scoring = create_run_for_test(
            instance,
            job_name="landed_files_job",
            status=dg.DagsterRunStatus.STARTED,
            run_config=first.run_config,
            tags=first.tags,
        )
        land(drop / "kawasaki-1", "k1.csv", export_text(1), 50)
        [second] = requests(tick(instance))  # the lane's next run, to start its process
        assert [key for _, key, _ in run_files(second)] == ["k1.csv"]
        # Its max runtime covers its wait for the one file of the run before it.
        assert second.tags["dagster/max_runtime"] == str(2 * 600)
        create_run_for_test(
            instance,
            job_name="landed_files_job",
            status=dg.DagsterRunStatus.NOT_STARTED,  # submitted, not yet started
            run_config=second.run_config,
            tags=second.tags,
        )
        land(drop / "kawasaki-1", "k2.csv", export_text(2), 40)
        land(drop / "kawasaki-1", "k3.csv", export_text(3), 30)
        land(drop / "ur3-1", "u0.csv", ur3_text(0), 50)
        # kawasaki-1's lane has its next run waiting; ur3-1's lane (the other) goes on.
        [other_lane] = requests(tick(instance))
        assert [key for _, key, _ in run_files(other_lane)] == ["u0.csv"]
        assert other_lane.tags["pm/scoring_lane"] != scoring.tags["pm/scoring_lane"]
        instance.report_run_failed(scoring)  # ended: the waiting run scores now
        lane = first.tags["pm/scoring_lane"]
        [after] = [r for r in requests(tick(instance)) if r.tags["pm/scoring_lane"] == lane]
    # The lane's files that landed meanwhile go into one run, in landing order.
    assert [key for _, key, _ in run_files(after)] == ["k2.csv", "k3.csv"]


def run_files(run: dg.RunRequest) -> list[tuple[str, str, str]]:
    """(robot, file key, path) of each file a run scores, in order."""
    config = run.run_config["ops"]["score_landed_files"]["config"]
    assert config["archive"] is True
    return [(f["robot"], f["file"], f["path"]) for f in config["files"]]


def test_a_file_read_in_another_robots_dialect_is_quarantined(drop: Path, fleet: Path) -> None:
    (drop / "kawasaki-1").mkdir()
    land(drop / "kawasaki-1", "u.csv", ur3_text(0))  # a UR3 export in the Kawasaki's folder
    with dg.instance_for_test() as instance:
        assert requests(tick(instance)) == []
    reason = (drop / "kawasaki-1" / "quarantine" / "u.csv.reason.txt").read_text()
    assert "current column" in reason


def test_a_file_of_a_robot_the_robots_file_lacks_is_quarantined_with_the_reason(
    drop: Path, fleet: Path
) -> None:
    (drop / "stranger").mkdir()
    path = land(drop / "stranger", "s.csv", export_text(0))
    with dg.instance_for_test() as instance:
        result = tick(instance)
    assert requests(result) == []
    assert "stranger" not in added_partitions(result).get("robots", [])
    assert not path.exists()
    reason = (drop / "stranger" / "quarantine" / "s.csv.reason.txt").read_text()
    assert "robot 'stranger' is not one of the deployment's robots" in reason
    assert str(fleet) in reason and "kawasaki-1, ur3-1" in reason


def test_without_a_robots_file_a_new_folder_is_a_new_robot(
    drop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no robots.yaml here
    (drop / "press-7").mkdir()
    land(drop / "press-7", "p.csv", export_text(0))
    land(drop, "top.csv", export_text(5))  # the top level stays the default robot's
    with dg.instance_for_test() as instance:
        result = tick(instance)
    scored = [robot for run in requests(result) for robot, _, _ in run_files(run)]
    assert sorted(scored) == ["press-7", "robot-1"]
    assert sorted(added_partitions(result)["robots"]) == ["press-7", "robot-1"]


def test_archive_quarantine_and_hidden_folders_are_no_robots(drop: Path, fleet: Path) -> None:
    for folder in ("archive", "quarantine", ".partial"):
        (drop / folder).mkdir()
        land(drop / folder, "x.csv", export_text(0))
    with dg.instance_for_test() as instance:
        assert requests(tick(instance)) == []
    assert all((drop / folder / "x.csv").exists() for folder in ("archive", ".partial"))


def test_a_file_a_run_archives_while_the_tick_judges_it_waits(drop: Path) -> None:
    path = land(drop, "a.csv", export_text(0))
    [landed] = list_landed_files(drop)
    archive_file(path, file_sha256(path))  # a batch's run finished this file meanwhile
    assert judge_landed_file(landed, ExportFormat()).action == "wait"
    with dg.instance_for_test() as instance:
        assert requests(tick(instance)) == []  # and the tick goes on, moving nothing
    assert not (drop / "quarantine").exists()
