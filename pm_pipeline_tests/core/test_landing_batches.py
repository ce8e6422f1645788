"""Which ready files score together: a robot's new files in one run, in landing order."""

from pathlib import Path

from pm_pipeline.core.landing.batches import batch_by_robot, batch_run_key
from pm_pipeline.core.landing.plan import LandingDecision


def ready(robot: str, name: str) -> LandingDecision:
    return LandingDecision(Path(name), "score", "ready", f"{name:x<64}", robot)


def names(batches: list[list[LandingDecision]]) -> list[list[str]]:
    return [[f"{d.robot_id}/{d.partition_key}" for d in batch] for batch in batches]


def test_each_robots_new_files_form_one_run_and_one_range_of_keys() -> None:
    landed = [ready("b", "1.csv"), ready("a", "2.csv"), ready("b", "3.csv"), ready("a", "4.csv")]
    batches, new_keys = batch_by_robot(landed, set(), max_files=25)
    assert names(batches) == [["a/2.csv", "a/4.csv"], ["b/1.csv", "b/3.csv"]]
    # Added in this order, each robot's keys are neighbours: its run covers exactly them.
    assert new_keys == ["2.csv", "4.csv", "1.csv", "3.csv"]


def test_a_name_already_a_key_scores_alone_and_keeps_the_others_together() -> None:
    landed = [ready("a", "1.csv"), ready("a", "old.csv"), ready("a", "2.csv")]
    batches, new_keys = batch_by_robot(landed, {"old.csv"}, max_files=25)
    assert names(batches) == [["a/old.csv"], ["a/1.csv", "a/2.csv"]]
    assert new_keys == ["1.csv", "2.csv"]


def test_two_robots_with_the_same_file_name_get_one_key_and_the_second_a_run_of_its_own() -> None:
    landed = [ready("a", "x.csv"), ready("b", "x.csv"), ready("b", "y.csv")]
    batches, new_keys = batch_by_robot(landed, set(), max_files=25)
    assert names(batches) == [["a/x.csv"], ["b/x.csv"], ["b/y.csv"]]
    assert new_keys == ["x.csv", "y.csv"]


def test_at_most_max_files_per_run() -> None:
    landed = [ready("a", f"{n}.csv") for n in range(5)]
    batches, _ = batch_by_robot(landed, set(), max_files=2)
    assert [len(batch) for batch in batches] == [2, 2, 1]


def test_run_keys_name_the_bytes_so_a_batch_never_runs_twice() -> None:
    one, two = ready("a", "1.csv"), ready("a", "2.csv")
    assert batch_run_key([one]) == one.run_key
    key = batch_run_key([one, two])
    assert key.startswith("a/1.csv..2.csv@") and key == batch_run_key([one, two])
    changed = LandingDecision(Path("2.csv"), "score", "ready", "f" * 64, "a")
    assert batch_run_key([one, changed]) != key
