"""Under the real daemon, robots of different lanes score at the same time, and each robot's
files score one after another in landing order (a lane's run scores once the one before has
ended, though the run queue lets the next one start its process meanwhile)."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.landing.batches import scoring_lane
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.registry import activate_model, register_model
from pm_pipeline.defs.assets.scoring import SCORING_LOG
from pm_pipeline.defs.jobs import landed_files_in
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.e2e.daemon_harness import DaemonSite, use_local_instance_settings

ROBOTS = ("r0", "r1")
FILES = ("a.csv", "b.csv", "c.csv")
ROWS = 600
"""Readings per file."""


@pytest.fixture
def site(tmp_path: Path, robot_day: pd.DataFrame) -> Iterator[DaemonSite]:
    site = DaemonSite(tmp_path, f"sqlite:///{tmp_path / 'readings.db'}")
    # One file per run, so each robot has runs queued one behind the other.
    site.settings = {"PM_FILES_PER_RUN": "1", "PM_SCORING_LANES": "2"}
    site.prepare()
    use_local_instance_settings(site)  # the run queue with its lane limit
    start = robot_day[TIME_COLUMN].iloc[0]
    train = robot_day[robot_day[TIME_COLUMN] < start + pd.Timedelta(hours=5)]
    model = fit_model(train, fit_minmax_scaling(train), settings_for_mode("robust"))
    engine = open_engine(site.readings_url)
    for robot in ROBOTS:  # a model each, fitted here: training is not what is tested
        register_model(engine, model, robot, "run-0", {})
        activate_model(engine, model.version, robot, "test")
    yield site
    site.stop_all()


def finished_runs(site: DaemonSite) -> list[dg.RunRecord]:
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        return list(instance.get_run_records(dg.RunsFilter(job_name="landed_files_job"), limit=50))


def lane_spans(site: DaemonSite) -> dict[str, list[tuple[float, float, str]]]:
    """Per robot, each run's (began scoring, ended, file): a lane's next run starts its
    process while the one before scores, and waits for it to end before it scores."""
    spans: dict[str, list[tuple[float, float, str]]] = {robot: [] for robot in ROBOTS}
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        for record in finished_runs(site):
            run = record.dagster_run
            [landed] = landed_files_in(run.run_config)
            [began] = [
                entry
                for entry in instance.all_logs(run.run_id)
                if entry.user_message == SCORING_LOG.format(files=1)
            ]
            assert record.end_time is not None
            spans[landed["robot"]].append((began.timestamp, record.end_time, landed["file"]))
    return spans


def land_in_order(site: DaemonSite, robot_day: pd.DataFrame) -> None:
    """Each robot (of different lanes) lands FILES into its folder, a second apart."""
    assert scoring_lane(ROBOTS[0], 2) != scoring_lane(ROBOTS[1], 2)
    worn = worn_slice(robot_day, after_hours=6).reset_index(drop=True)
    then = time.time() - 60
    for robot in ROBOTS:
        (site.drop / robot).mkdir()
        for number, name in enumerate(FILES):
            path = site.drop / robot / name
            write_export(worn.iloc[number * ROWS : (number + 1) * ROWS], path)
            os.utime(path, (then + number, then + number))  # landed a second apart, in order


def wait_for_the_runs(site: DaemonSite) -> None:
    """Every robot's files scored, each run succeeded."""
    expected = len(ROBOTS) * len(FILES)
    wait_for(
        lambda: (
            len(runs := finished_runs(site)) == expected
            and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        ),
        420,
        "the six runs of landed files to succeed",
        site.daemon_log,
    )


def assert_each_robot_in_order_and_the_lanes_side_by_side(site: DaemonSite) -> None:
    spans = lane_spans(site)
    for robot in ROBOTS:
        ordered = sorted(spans[robot])
        assert [name for _, _, name in ordered] == list(FILES), robot  # landing order
        # One run of a lane scores at a time: each after the one before has ended.
        assert all(ordered[i][1] <= ordered[i + 1][0] for i in range(len(ordered) - 1))
    # The lanes do not wait for each other: each robot began scoring before the other's last
    # run ended (in one lane, every run waits for the runs submitted before it, so the robot
    # submitted second would begin only after the first robot's last run ended).
    began = {robot: min(start for start, _, _ in spans[robot]) for robot in ROBOTS}
    ended = {robot: max(end for _, end, _ in spans[robot]) for robot in ROBOTS}
    assert began[ROBOTS[0]] < ended[ROBOTS[1]] and began[ROBOTS[1]] < ended[ROBOTS[0]], spans


def test_robots_score_in_parallel_and_each_keeps_landing_order(
    site: DaemonSite, robot_day: pd.DataFrame
) -> None:
    land_in_order(site, robot_day)
    site.start_daemon()
    wait_for_the_runs(site)
    assert_each_robot_in_order_and_the_lanes_side_by_side(site)
