"""landed_file_sensor when ticks overlap a run of the same file, and when a run died."""

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from pm_pipeline.defs.sensors import MAX_RUNTIME_TAG, RERUN_OF_TAG, RUN_KEY_TAG, WILL_RETRY_TAG
from pm_pipeline_tests.defs.test_sensor import export_text, land, requests, scored_files, tick


def started(instance: dg.DagsterInstance, run_key: str | None, **tags: str) -> dg.DagsterRun:
    """A run of the request, as the daemon launches it."""
    assert run_key is not None
    return create_run_for_test(
        instance,
        job_name="landed_files_job",
        status=dg.DagsterRunStatus.STARTED,
        tags={RUN_KEY_TAG: run_key, **tags},
    )


def test_two_ticks_on_one_file_ask_for_one_run(drop: Path) -> None:
    path = land(drop, "a.csv", export_text(0))
    with dg.instance_for_test() as instance:
        # Two ticks before the daemon has launched anything name the same run key, which the
        # daemon launches once (de-duplication by run key happens there).
        [first] = requests(tick(instance))
        [second] = requests(tick(instance))
        assert first.run_key == second.run_key
        started(instance, first.run_key)
        # While that run goes, later ticks ask for nothing and leave the file to the run.
        assert requests(tick(instance)) == []
        assert requests(tick(instance)) == []
    assert path.exists()


def test_a_run_dagster_retries_is_left_to_the_retry(drop: Path) -> None:
    path = land(drop, "a.csv", export_text(0))
    with dg.instance_for_test() as instance:
        [request] = requests(tick(instance))
        crashed = create_run_for_test(
            instance,
            job_name="landed_files_job",
            status=dg.DagsterRunStatus.FAILURE,
            tags={RUN_KEY_TAG: request.run_key, WILL_RETRY_TAG: "true"},
        )
        assert requests(tick(instance)) == []
        # The retry carries the parent's tags, run key included.
        started(instance, request.run_key, **{"dagster/parent_run_id": crashed.run_id})
        assert requests(tick(instance)) == []
    assert path.exists()


def test_scoring_runs_carry_a_max_runtime(drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    land(drop, "a.csv", export_text(0))
    with dg.instance_for_test() as instance:
        [request] = requests(tick(instance))
        assert request.tags[MAX_RUNTIME_TAG] == "600"
        monkeypatch.setenv("PM_SCORING_MAX_RUNTIME_SECONDS", "45")
        [request] = requests(tick(instance))
        assert request.tags[MAX_RUNTIME_TAG] == "45"


def test_a_crashed_run_whose_retry_never_started_is_rerun_once(
    drop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster's retry daemon can miss a failure written while it reads (the run's status is
    updated just after its failure event); the sensor then scores the file itself, once."""
    path = land(drop, "a.csv", export_text(0))
    with dg.instance_for_test() as instance:
        [request] = requests(tick(instance))
        stranded = create_run_for_test(
            instance,
            job_name="landed_files_job",
            status=dg.DagsterRunStatus.FAILURE,
            tags={RUN_KEY_TAG: request.run_key, WILL_RETRY_TAG: "true"},
        )
        assert requests(tick(instance)) == []  # within the grace time Dagster's retry is due
        monkeypatch.setenv("PM_RETRY_GRACE_SECONDS", "0")
        [rerun] = requests(tick(instance))
        assert rerun.run_key == f"{request.run_key}:rerun-{stranded.run_id[:8]}"
        assert rerun.tags[RERUN_OF_TAG] == stranded.run_id
        assert scored_files(rerun) == [("robot-1", "a.csv")]
        started(instance, rerun.run_key)
        assert requests(tick(instance)) == []  # the rerun goes; no second one
    assert path.exists()
