"""Steps on dagster-celery workers: two real worker processes on the real RabbitMQ broker run
a retraining and a scoring run, step by step, with nothing passed between steps on disk."""

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
from pm_pipeline_tests.commands import BIN, run
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.e2e.daemon_harness import PROJECT_ROOT, SQLITE_INSTANCE_YAML, DaemonSite
from pm_pipeline_tests.partitioned import add_landed

pytestmark = pytest.mark.slow  # real Celery workers; `pytest -m "not slow"` leaves it out

BROKER = "pyamqp://guest@127.0.0.1:5672//"
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
    """``dagster-celery worker start`` as the README says, on this test's own queue."""
    log = (site.root / f"worker-{name}.log").open("w")
    command = [
        str(BIN / "dagster-celery"),
        *("worker", "start", "-A", "dagster_celery.app", "-y", "celery.yaml"),
        *("-q", env["PM_CELERY_QUEUE"], "-n", name),
    ]
    site.processes.append(
        subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    )


def execute(env: dict[str, str], job: str, *extra: str) -> None:
    run(
        [BIN / "dagster", "job", "execute", "-m", "pm_pipeline.definitions", "-j", job, *extra],
        cwd=PROJECT_ROOT,
        env=env,
        timeout=600,
    )


def workers_by_step(site: DaemonSite, job: str) -> dict[str, str]:
    """For the job's newest run: each executed step and the Celery worker that ran it."""
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        [newest, *_] = instance.get_runs(filters=dg.RunsFilter(job_name=job), limit=1)
        assert newest.status == dg.DagsterRunStatus.SUCCESS
        placed = {}
        for entry in instance.all_logs(newest.run_id):
            event = entry.dagster_event
            if event is None or not event.is_engine_event or not event.step_key:
                continue
            metadata = event.engine_event_data.metadata
            if CELERY_WORKER in metadata:
                placed[event.step_key] = str(metadata[CELERY_WORKER].value)
        executed = {
            entry.dagster_event.step_key
            for entry in instance.all_logs(newest.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
            if entry.dagster_event is not None
        }
    assert executed and set(placed) == executed, (placed, executed)
    return placed


def test_retraining_and_scoring_run_their_steps_on_two_celery_workers(
    site: DaemonSite, robot_day: pd.DataFrame
) -> None:
    env = celery_env(site, f"pm-test-{uuid.uuid4().hex[:8]}")
    split = robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=6)
    history, landed = site.root / "history.csv", site.root / "landed.csv"
    write_export(robot_day[robot_day[TIME_COLUMN] < split], history)
    write_export(worn_slice(robot_day, after_hours=6), landed)
    site.cli("ingest", str(history))
    with dg.DagsterInstance.from_config(str(site.home)):
        pass  # its storage made once, not raced for by the workers and the run starting
    for name in WORKERS:
        start_worker(site, env, name)

    execute(env, "training_job")
    trained = workers_by_step(site, "training_job")
    assert {worker.split("@")[0] for worker in trained.values()} <= set(WORKERS)
    engine = open_engine(site.readings_url)
    version = active_model_version(engine, "robot-1")

    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        add_landed(instance, "landed.csv")
    config = site.root / "scoring.json"
    config.write_text(json.dumps({"ops": {"file_events": {"config": {"path": str(landed)}}}}))
    execute(
        env, "file_scoring_job", "-c", str(config), "--tags", '{"dagster/partition": "landed.csv"}'
    )
    scored = workers_by_step(site, "file_scoring_job")
    assert {worker.split("@")[0] for worker in scored.values()} <= set(WORKERS)
    events = read_events(engine, "landed.csv", "robot-1")
    assert len(events) > 0 and set(events["model_version"]) == {version}
