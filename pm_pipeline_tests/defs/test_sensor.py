"""landled_file_sensor scenarios through build_sensor_context, on real files in a temp folder."""

import os
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from pm_pipeline.core.schema import DEFAULT_ROBOT_ID
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.defs.jobs import landed_files_in
from pm_pipeline.defs.resources import SettingsResource
from pm_pipeline.defs.sensors import landed_file_sensor

HEADER = '"Trait",' + ",".join(f'"Axis #{i}"' for i in range(1, 15)) + ',"Time"\n'


def export_text(first_second: int, rows: int = 5) -> str:
    body = "".join(
        f'"current",1,2,3,4,5,6,7,8,,,,,,,"2022-10-17T12:{first_second + i:02d}:00.000Z"\n'
        for i in range(rows)
    )
    return HEADER + body


def land(folder: Path, name: str, text: str, age_s: float = 60.0) -> Path:
    path = folder / name
    path.write_text(text)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def one_tick(instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"settings": SettingsResource()}
    )
    result = landed_file_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def tick(instance: dg.DagsterInstance) -> dg.SensorResult:
    """A tick that follows a first look at the folder, so a file unchanged since counts as
    looked at twice (the sensor scores a file only once two looks agree)."""
    return one_tick(instance, one_tick(instance).cursor)


def requests(result: dg.SensorResult) -> list[dg.RunRequest]:
    return [r for r in result.run_requests or [] if isinstance(r, dg.RunRequest)]


def taken(result: dg.SensorResult) -> list[str]:
    """The names of the files the tick's runs score, run after run."""
    return [
        Path(landed["path"]).name
        for request in requests(result)
        for landed in landed_files_in(request.run_config)
    ]


def scored_files(request: dg.RunRequest) -> list[tuple[str, str]]:
    """(robot, file key) of each file the run scores: its ``file_events`` partitions."""
    return [(landed["robot"], landed["file"]) for landed in landed_files_in(request.run_config)]


def added_partitions(result: dg.SensorResult) -> dict[str, list[str]]:
    return {
        str(added.partitions_def_name): list(added.partition_keys)
        for added in result.dynamic_partitions_requests or []
        if isinstance(added, dg.AddDynamicPartitionsRequest)
    }


def test_new_file_becomes_a_partition_and_a_run(drop: Path) -> None:
    path = land(drop, "a.csv", export_text(0))
    with dg.instance_for_test() as instance:
        result = tick(instance)
    [request] = requests(result)
    assert request.job_name is None  # the sensor's own: landed_files_job
    assert request.run_key == f"a.csv@{file_sha256(path)[:16]}"
    assert request.run_config["ops"]["score_landed_files"]["config"] == {
        "files": [{"robot": DEFAULT_ROBOT_ID, "file": "a.csv", "path": str(path)}],
        "archive": True,
    }
    assert added_partitions(result) == {"robots": [DEFAULT_ROBOT_ID]}  # never the file
    assert path.exists()  # the run, not the sensor, archives a scored file


def test_same_bytes_again_are_not_rescored(drop: Path) -> None:
    path = land(drop, "a.csv", export_text(0))
    with dg.instance_for_test() as instance:
        [request] = requests(tick(instance))
        create_run_for_test(
            instance,
            job_name="landed_files_job",
            status=dg.DagsterRunStatus.SUCCESS,
            tags={"dagster/run_key": request.run_key},
        )
        assert requests(tick(instance)) == []
    assert not path.exists()
    assert [p.name for p in (drop / "archive").iterdir()] == [
        f"a.{file_sha256((drop / 'archive').iterdir().__next__())[:12]}.csv"
    ]


def test_changed_file_gets_a_new_run_in_the_same_partition(drop: Path) -> None:
    land(drop, "a.csv", export_text(0))
    with dg.instance_for_test() as instance:
        [first] = requests(tick(instance))
        create_run_for_test(
            instance,
            job_name="landed_files_job",
            status=dg.DagsterRunStatus.SUCCESS,
            tags={"dagster/run_key": first.run_key},
        )
        land(drop, "a.csv", export_text(0, rows=7))
        [second] = requests(tick(instance))
    assert scored_files(second) == scored_files(first) == [(DEFAULT_ROBOT_ID, "a.csv")]
    assert second.run_key != first.run_key


def test_a_file_in_a_run_not_yet_ended_is_left_alone_until_the_run_ends(drop: Path) -> None:
    path = land(drop, "a.csv", export_text(0))
    with dg.instance_for_test() as instance:
        [request] = requests(tick(instance))
        run = create_run_for_test(
            instance,
            job_name="landed_files_job",
            status=dg.DagsterRunStatus.STARTED,
            run_config=request.run_config,
            tags={"dagster/run_key": request.run_key},
        )
        land(drop, "a.csv", export_text(0, rows=7))  # rewritten while its run goes
        assert requests(tick(instance)) == []
        instance.report_run_failed(run)
        [changed] = requests(tick(instance))
    assert changed.run_key == f"a.csv@{file_sha256(path)[:16]}" != request.run_key


def test_files_being_written_wait(drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A settle time no loaded machine outlasts between landing "fresh" and the tick; "cut" is
    # older than it (and younger than 10 settle times), so only its cut line holds it back.
    monkeypatch.setenv("PM_SETTLE_SECONDS", "30")
    cut = land(drop, "cut.csv", export_text(0)[:-12], age_s=60.0)  # last line cut short
    fresh = land(drop, "fresh.csv", export_text(0), age_s=0.0)  # modified just now
    with dg.instance_for_test() as instance:
        assert requests(tick(instance)) == []
    assert cut.exists() and fresh.exists()
    with cut.open("a") as handle:  # the writer finishes the line
        handle.write(export_text(0)[-12:])
    os.utime(cut, (time.time() - 60, time.time() - 60))
    with dg.instance_for_test() as instance:
        assert "cut.csv" in taken(tick(instance))


def test_a_file_without_a_final_newline_is_taken_once_it_stays_unchanged(drop: Path) -> None:
    # Some exporters never write the last newline; past 10 settle times (20 s) it is judged.
    land(drop, "no_newline.csv", export_text(0).rstrip("\n"), age_s=25.0)
    with dg.instance_for_test() as instance:
        assert taken(tick(instance)) == ["no_newline.csv"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("time,axis_1\n2022-10-17T12:00:00Z,1\n", "missing current column(s)"),
        ("", "the file is empty"),
        (HEADER, "has a header but no readings"),
    ],
    ids=["no-axes", "empty", "header-only"],
)
def test_bad_file_is_quarantined_and_others_still_run(drop: Path, text: str, reason: str) -> None:
    land(drop, "bad.csv", text)
    land(drop, "good.csv", export_text(10))
    with dg.instance_for_test() as instance:
        assert taken(tick(instance)) == ["good.csv"]
    assert not (drop / "bad.csv").exists()
    assert (drop / "quarantine" / "bad.csv").exists()
    assert reason in (drop / "quarantine" / "bad.csv.reason.txt").read_text()


def test_at_most_the_cap_per_tick(drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PM_MAX_FILES_PER_TICK", "2")
    for number in range(5):
        land(drop, f"f{number}.csv", export_text(number), age_s=60 - number)
    with dg.instance_for_test() as instance:
        result = tick(instance)
    assert taken(result) == ["f0.csv", "f1.csv"]  # oldest first; the rest wait for the next tick


def test_sensor_runs_by_default() -> None:
    assert landed_file_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_bad_column_map_fails_the_tick_and_moves_no_file(
    drop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = land(drop, "a.csv", export_text(0))
    monkeypatch.setenv("PM_COLUMN_MAP", '{"axis_1": 7}')
    with dg.instance_for_test() as instance, pytest.raises(Exception, match="PM_COLUMN_MAP"):
        tick(instance)
    assert path.exists() and not (drop / "quarantine").exists()
