"""With ``PM_RUN_LAUNCHER=celery``, under the real daemon, every scoring run executes in a
pool process of a real Celery run worker (RabbitMQ broker, task states in Postgres), robots
of different lanes score at the same time, and each robot's files score in landing order."""

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from kombu.connection import Connection

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.engine import normalise_url, open_engine
from pm_pipeline.db.registry import activate_model, register_model
from pm_pipeline_tests.e2e.daemon_harness import (
    DaemonSite,
    process_tree,
    use_local_instance_settings,
)
from pm_pipeline_tests.e2e.test_scoring_lanes import (
    ROBOTS,
    assert_each_robot_in_order_and_the_lanes_side_by_side,
    finished_runs,
    land_in_order,
    wait_for_the_runs,
)

pytestmark = pytest.mark.slow  # a real Celery worker; `pytest -m "not slow"` leaves it out

BROKER = "pyamqp://guest@127.0.0.1:5672//"
POOL = 4
"""Pool processes: each of the two lanes' scoring run and the next one, waiting for it."""
STARTED_PROCESS = "Started process for run (pid: "
FORWARDED = "Celery task has been forwarded to the broker."


@pytest.fixture
def site(
    tmp_path: Path, robot_day: pd.DataFrame, postgres_schema_url: Callable[[], str]
) -> Iterator[DaemonSite]:
    site = DaemonSite(tmp_path, f"sqlite:///{tmp_path / 'readings.db'}")
    site.settings = {
        "PM_FILES_PER_RUN": "1",  # each robot has runs queued one behind the other
        "PM_SCORING_LANES": "2",
        "PM_RUN_LAUNCHER": "celery",
        "PM_CELERY_BROKER_URL": BROKER,
        "PM_CELERY_BACKEND_URL": f"db+{normalise_url(postgres_schema_url())}",
        "PM_CELERY_QUEUE": f"pm-test-{uuid.uuid4().hex[:8]}",
    }
    site.prepare()
    use_local_instance_settings(site)  # the run queue with its lane limit, run monitoring
    start = robot_day[TIME_COLUMN].iloc[0]
    train = robot_day[robot_day[TIME_COLUMN] < start + pd.Timedelta(hours=5)]
    model = fit_model(train, fit_minmax_scaling(train), settings_for_mode("robust"))
    engine = open_engine(site.readings_url)
    for robot in ROBOTS:  # a model each, fitted here: training is not what is tested
        register_model(engine, model, robot, "run-0", {})
        activate_model(engine, model.version, robot, "test")
    yield site
    site.stop_all()
    with Connection(BROKER) as broker:  # the test's queue, left on the shared broker else
        broker.default_channel.queue_delete(site.settings["PM_CELERY_QUEUE"])


def start_run_worker(site: DaemonSite) -> subprocess.Popen:
    """A run worker as docs/fleet.md starts it, on this test's own queue."""
    return site.start_celery_worker("celery_runs.yaml", "runs", site.env, f"--concurrency={POOL}")


def run_pids(site: DaemonSite) -> set[int]:
    """The pid each run of landed files logged when its execution started; each run must
    have gone through the broker."""
    pids = set()
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        for record in finished_runs(site):
            messages = [
                entry.message
                for entry in instance.all_logs(
                    record.dagster_run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
                )
            ]
            assert any(FORWARDED in text for text in messages), messages
            [started] = [text for text in messages if text.startswith(STARTED_PROCESS)]
            pids.add(int(started[len(STARTED_PROCESS) :].split(")")[0]))
    return pids


def test_runs_execute_on_celery_workers_in_landing_order(
    site: DaemonSite, robot_day: pd.DataFrame
) -> None:
    land_in_order(site, robot_day)
    worker = start_run_worker(site)
    site.start_daemon()
    wait_for_the_runs(site)
    # Every run executed in one of the worker's long-lived pool processes, no process of its
    # own: at most POOL pids for six runs, all of them the worker's.
    pids = run_pids(site)
    assert pids and len(pids) <= POOL and pids <= set(process_tree(worker.pid)), pids
    assert_each_robot_in_order_and_the_lanes_side_by_side(site)
