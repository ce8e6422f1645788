"""Steps on dagster-celery workers: two real worker processes on the real RabbitMQ broker run
the retraining of three robots (two Kawasaki-like, one UR3-like in its own dialect) and a
scoring run per robot, step by step, with nothing passed between steps on disk; each robot's
models and events are its own."""

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import read_events
from pm_pipeline.db.registry import active_model_version
from pm_pipeline.defs.partitions import ROBOTS as ROBOTS_PARTITIONS
from pm_pipeline_tests.commands import BIN
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.e2e.daemon_harness import PROJECT_ROOT, SQLITE_INSTANCE_YAML, DaemonSite
from pm_pipeline_tests.in_process import run_main

pytestmark = pytest.mark.slow  # real Celery workers; `pytest -m "not slow"` leaves it out

BROKER = "pyamqp://guest@127.0.0.1:5672//"
PARTITION_TAG = "dagster/partition"
ROBOTS_TAG = "pm/robots"
UR3_ROBOT = "ur3-like"
ROBOTS = {"kawasaki-a": 1.0, "kawasaki-b": 1.15, UR3_ROBOT: 0.4}
"""Three robots, two Kawasaki-like and one UR3-like, and the scale of each one's currents."""
UR3_NAMES = {
    "axis_1": "Current_J0",
    "axis_2": "Current_J1",
    "axis_3": "Current_J2",
    "axis_4": "Current_J3",
    "axis_5": "Current_J4",
    "axis_6": "Current_J5",
    "axis_7": "Tool_current",
}
FLEET_OF_THREE = f"""\
robots:
  kawasaki-a: {{}}
  kawasaki-b: {{}}
  {UR3_ROBOT}:
    axis_count: 7
    column_map: {{time: Timestamp, {", ".join(f"{a}: {n}" for a, n in UR3_NAMES.items())}}}
"""
WORKERS = ("w1", "w2")
CELERY_WORKER = "Celery worker"


@pytest.fixture
def site(tmp_path: Path, postgres_url: str) -> Iterator[DaemonSite]:
    site = DaemonSite(tmp_path, postgres_url)
    site.prepare()
    (site.home / "dagster.yaml").write_text(SQLITE_INSTANCE_YAML)
    yield site
    site.stop_all()


def celery_env(site: DaemonSite, queue: str) -> dict[str, str]:
    return {
        **site.env,
        "PM_EXECUTOR": "celery",
        "PM_CELERY_BROKER_URL": BROKER,
        "PM_CELERY_QUEUE": queue,
        # `dagster-celery worker start` runs `celery` from PATH, as in an activated venv.
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }


def start_worker(site: DaemonSite, env: dict[str, str], name: str) -> None:
    """``dagster-celery worker start`` as docs/operations.md says, on this test's own queue."""
    site.start_celery_worker("celery.yaml", name, env, ready=False)


def workers_by_run(
    site: DaemonSite, job: str, runs: int, tag: str = PARTITION_TAG
) -> dict[str, dict[str, str]]:
    """For each of the job's newest ``runs`` runs (by ``tag``, its partition by default):
    each executed step and the Celery worker that ran it."""
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        newest = instance.get_runs(filters=dg.RunsFilter(job_name=job), limit=runs)
        assert len(newest) == runs
        return {run.tags[tag]: _workers_by_step(instance, run) for run in newest}


def _workers_by_step(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, str]:
    assert run.status == dg.DagsterRunStatus.SUCCESS
    placed = {}
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        if event is None or not event.is_engine_event or not event.step_key:
            continue
        metadata = event.engine_event_data.metadata
        if CELERY_WORKER in metadata:
            placed[event.step_key] = str(metadata[CELERY_WORKER].value)
    executed = {
        entry.dagster_event.step_key
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
        if entry.dagster_event is not None
    }
    assert executed and set(placed) == executed, (placed, executed)
    return placed


def write_ur3_dialect(readings: pd.DataFrame, path: Path) -> None:
    """Seven of the readings' axes as a UR3 writes them: signed currents under its own names,
    ``;`` between fields and decimal commas."""
    frame = readings[[TIME_COLUMN, *UR3_NAMES]].copy()
    for axis in ("axis_2", "axis_4", "axis_6"):  # these joints push the other way
        frame[axis] = -frame[axis]
    frame[TIME_COLUMN] = frame[TIME_COLUMN].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    frame = frame.rename(columns={TIME_COLUMN: "Timestamp", **UR3_NAMES})
    frame.to_csv(path, sep=";", decimal=",", index=False)


def execute_in_parallel(
    env: dict[str, str], job: str, runs: dict[str, list[str]], tag: str = PARTITION_TAG
) -> None:
    """``dagster job execute`` of each run (its ``tag``, the partition by default, and its
    extra arguments), all at once: the two workers share the runs' steps."""
    base = [BIN / "dagster", "job", "execute", "-m", "pm_pipeline.definitions", "-j", job]
    started = {
        key: subprocess.Popen(
            [str(arg) for arg in [*base, *extra, "--tags", json.dumps({tag: key})]],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for key, extra in runs.items()
    }
    for key, process in started.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, (key, output[-3000:])


def test_three_robots_retrain_and_score_on_two_celery_workers(
    site: DaemonSite, robot_day: pd.DataFrame
) -> None:
    env = celery_env(site, f"pm-test-{uuid.uuid4().hex[:8]}")
    robots_file = site.root / "robots.yaml"
    robots_file.write_text(FLEET_OF_THREE)
    env["PM_ROBOTS_FILE"] = str(robots_file)
    split = robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=6)
    history = robot_day[robot_day[TIME_COLUMN] < split]
    worn = worn_slice(robot_day, after_hours=6)
    landed: dict[str, Path] = {}
    for robot, factor in ROBOTS.items():
        # Each robot's own currents: a different scale gives each its own model.
        own_history, own_worn = history.copy(), worn.copy()
        for axis in [c for c in history.columns if c.startswith("axis_")]:
            own_history[axis] *= factor
            own_worn[axis] *= factor
        write = write_ur3_dialect if robot == UR3_ROBOT else write_export
        write(own_history, site.root / f"{robot}-history.csv")
        landed[robot] = site.root / f"{robot}-landed.csv"
        write(own_worn, landed[robot])
        run_main(  # the history, stored through the command's entry point in this process
            "ingest",
            "--robot",
            robot,
            site.root / f"{robot}-history.csv",
            cwd=PROJECT_ROOT,
            env=env,
        )
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        # Storage made once, not raced for by the workers and the runs starting.
        instance.add_dynamic_partitions(ROBOTS_PARTITIONS, list(ROBOTS))
    for name in WORKERS:
        start_worker(site, env, name)

    execute_in_parallel(env, "training_job", {robot: [] for robot in ROBOTS})
    for trained in workers_by_run(site, "training_job", len(ROBOTS)).values():
        assert {worker.split("@")[0] for worker in trained.values()} <= set(WORKERS)
    engine = open_engine(site.readings_url)
    versions = {robot: active_model_version(engine, robot) for robot in ROBOTS}
    assert len(set(versions.values())) == len(ROBOTS)  # each robot's own model

    scoring = {}
    for robot in ROBOTS:
        config = site.root / f"{robot}-scoring.json"
        landed_file = {"robot": robot, "file": landed[robot].name, "path": str(landed[robot])}
        files = {"files": [landed_file], "archive": False}
        config.write_text(json.dumps({"ops": {"score_landed_files": {"config": files}}}))
        scoring[robot] = ["-c", str(config)]
    execute_in_parallel(env, "landed_files_job", scoring, ROBOTS_TAG)
    for scored in workers_by_run(site, "landed_files_job", len(ROBOTS), ROBOTS_TAG).values():
        assert {worker.split("@")[0] for worker in scored.values()} <= set(WORKERS)
    for robot in ROBOTS:
        events = read_events(engine, landed[robot].name, robot)
        assert len(events) > 0 and set(events["model_version"]) == {versions[robot]}
        assert set(events["robot_id"]) == {robot}
        others = [landed[other].name for other in ROBOTS if other != robot]
        assert read_events(engine, robot_id=robot)["source"].isin(others).sum() == 0
