"""Which ready files score together: a tick's files of one lane's robots in one run, each
robot's in landing order, and a robot always in the same lane."""

from pathlib import Path

from pm_pipeline.core.landing.batches import batch_run_key, fleet_batches, scoring_lane
from pm_pipeline.core.landing.plan import LandingDecision


def ready(robot: str, name: str) -> LandingDecision:
    return LandingDecision(Path(name), "score", "ready", f"{name:x<64}", robot)


def names(batches: list[tuple[str, list[LandingDecision]]]) -> list[list[str]]:
    return [[f"{d.robot_id}/{d.file_key}" for d in batch] for _, batch in batches]


def test_a_ticks_files_of_one_lane_form_one_run_each_robots_in_landing_order() -> None:
    landed = [ready("b", "1.csv"), ready("a", "2.csv"), ready("b", "3.csv"), ready("a", "4.csv")]
    batches = fleet_batches(landed, max_files=25, lanes=1)
    assert names(batches) == [["a/2.csv", "a/4.csv", "b/1.csv", "b/3.csv"]]
    assert [lane for lane, _ in batches] == ["lane-0"]


def test_robots_of_different_lanes_go_into_different_runs_each_in_landing_order() -> None:
    assert scoring_lane("a", 2) == scoring_lane("b", 2) != scoring_lane("d", 2)
    landed = [ready("d", "1.csv"), ready("a", "2.csv"), ready("d", "3.csv"), ready("b", "4.csv")]
    batches = fleet_batches(landed, max_files=25, lanes=2)
    by_lane = dict(zip([lane for lane, _ in batches], names(batches), strict=True))
    assert by_lane == {
        scoring_lane("a", 2): ["a/2.csv", "b/4.csv"],
        scoring_lane("d", 2): ["d/1.csv", "d/3.csv"],
    }


def test_a_robot_keeps_its_lane_whatever_else_lands() -> None:
    lanes = {scoring_lane(f"robot-{n}", 4) for n in range(100)}
    assert lanes == {"lane-0", "lane-1", "lane-2", "lane-3"}  # all lanes get robots
    assert all(scoring_lane("robot-7", 4) == scoring_lane("robot-7", 4) for _ in range(3))


def test_at_most_max_files_per_run_and_a_robot_goes_on_in_the_next() -> None:
    landed = [ready("b", "b0.csv"), *(ready("a", f"{n}.csv") for n in range(3))]
    batches = fleet_batches(landed, max_files=2, lanes=1)
    assert names(batches) == [["a/0.csv", "a/1.csv"], ["a/2.csv", "b/b0.csv"]]


def test_run_keys_name_the_bytes_so_a_batch_never_runs_twice() -> None:
    one, two = ready("a", "1.csv"), ready("b", "2.csv")
    assert batch_run_key([one]) == one.run_key
    key = batch_run_key([one, two])
    assert key.startswith("2 files: a/1.csv..b/2.csv@") and key == batch_run_key([one, two])
    changed = LandingDecision(Path("2.csv"), "score", "ready", "f" * 64, "b")
    assert batch_run_key([one, changed]) != key
