"""Which ready files score together: a tick's files of all robots in one run, each robot's in
landing order."""

from pathlib import Path

from pm_pipeline.core.landing.batches import batch_run_key, fleet_batches
from pm_pipeline.core.landing.plan import LandingDecision


def ready(robot: str, name: str) -> LandingDecision:
    return LandingDecision(Path(name), "score", "ready", f"{name:x<64}", robot)


def names(batches: list[list[LandingDecision]]) -> list[list[str]]:
    return [[f"{d.robot_id}/{d.file_key}" for d in batch] for batch in batches]


def test_a_ticks_files_of_all_robots_form_one_run_each_robots_in_landing_order() -> None:
    landed = [ready("b", "1.csv"), ready("a", "2.csv"), ready("b", "3.csv"), ready("a", "4.csv")]
    batches, new_keys = fleet_batches(landed, set(), max_files=25)
    assert names(batches) == [["a/2.csv", "a/4.csv", "b/1.csv", "b/3.csv"]]
    assert new_keys == ["1.csv", "2.csv", "3.csv", "4.csv"]


def test_a_name_already_a_key_scores_with_the_others_and_is_not_added_again() -> None:
    landed = [ready("a", "1.csv"), ready("a", "old.csv"), ready("a", "2.csv")]
    batches, new_keys = fleet_batches(landed, {"old.csv"}, max_files=25)
    assert names(batches) == [["a/1.csv", "a/old.csv", "a/2.csv"]]
    assert new_keys == ["1.csv", "2.csv"]


def test_two_robots_with_the_same_file_name_share_one_key() -> None:
    landed = [ready("a", "x.csv"), ready("b", "x.csv"), ready("b", "y.csv")]
    batches, new_keys = fleet_batches(landed, set(), max_files=25)
    assert names(batches) == [["a/x.csv", "b/x.csv", "b/y.csv"]]
    assert new_keys == ["x.csv", "y.csv"]


def test_at_most_max_files_per_run_and_a_robot_goes_on_in_the_next() -> None:
    landed = [ready("b", "b0.csv"), *(ready("a", f"{n}.csv") for n in range(3))]
    batches, _ = fleet_batches(landed, set(), max_files=2)
    assert names(batches) == [["a/0.csv", "a/1.csv"], ["a/2.csv", "b/b0.csv"]]


def test_run_keys_name_the_bytes_so_a_batch_never_runs_twice() -> None:
    one, two = ready("a", "1.csv"), ready("b", "2.csv")
    assert batch_run_key([one]) == one.run_key
    key = batch_run_key([one, two])
    assert key.startswith("2 files: a/1.csv..b/2.csv@") and key == batch_run_key([one, two])
    changed = LandingDecision(Path("2.csv"), "score", "ready", "f" * 64, "b")
    assert batch_run_key([one, changed]) != key
