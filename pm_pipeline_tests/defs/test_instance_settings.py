"""The run queue's interval, run monitoring and run retries reach every instance the project
makes: the local SQLite home the commands write, and the repo's dagster.yaml for Postgres."""

import fcntl
import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.events import EngineEventData
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher.base import WorkerStatus
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._core.test_utils import create_run_for_test

from pm_pipeline.defs.execution import (
    INSTANCE_LOCK_NAME,
    LOCAL_INSTANCE_YAML,
    RUN_QUEUE_YAML,
    RUN_RECOVERY_YAML,
    TICK_RETENTION_YAML,
    local_instance,
    prepare_local_home,
)
from pm_pipeline.defs.run_launcher import ProjectRunLauncher
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.conftest import PROJECT_ROOT

RECOVERY_KEYS = ("run_launcher", "run_monitoring", "run_retries")


def assert_recovers_crashed_runs(instance: dg.DagsterInstance) -> None:
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_poll_interval_seconds == 10
    # The project's run launcher checks a worker's health but cannot resume a run.
    assert instance.run_monitoring_max_resume_run_attempts == 0
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert not instance.run_retries_retry_on_asset_or_op_failure
    coordinator = instance.run_coordinator
    assert isinstance(coordinator, QueuedRunCoordinator)
    assert coordinator.dequeue_interval_seconds == 1
    assert isinstance(instance.run_launcher, ProjectRunLauncher)


def test_repo_and_local_settings_agree() -> None:
    repo = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    local = yaml.safe_load(LOCAL_INSTANCE_YAML)
    recovery = yaml.safe_load(RUN_RECOVERY_YAML)
    assert {key: repo[key] for key in RECOVERY_KEYS} == recovery
    assert {key: local[key] for key in RECOVERY_KEYS} == recovery
    queue = yaml.safe_load(RUN_QUEUE_YAML)
    assert repo["run_coordinator"] == local["run_coordinator"] == queue["run_coordinator"]
    retention = yaml.safe_load(TICK_RETENTION_YAML)
    assert repo["retention"] == local["retention"] == retention["retention"]


@pytest.fixture
def local_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The commands' local instance folder in a new state folder, nothing else set."""
    for variable in ("DAGSTER_HOME", "DAGSTER_PG_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PM_STATE_DIR", str(tmp_path / "state"))
    return prepare_local_home()


def test_the_daemon_purges_old_sensor_and_schedule_ticks(local_home: Path) -> None:
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    with dg.DagsterInstance.from_config(str(local_home)) as instance:
        sensor = instance.get_tick_retention_settings(InstigatorType.SENSOR)
        schedule = instance.get_tick_retention_settings(InstigatorType.SCHEDULE)
    # Dagster's defaults keep these for ever (-1).
    assert sensor[TickStatus.SUCCESS] == 14 and sensor[TickStatus.SKIPPED] == 1
    assert sensor[TickStatus.FAILURE] == 30
    assert set(schedule.values()) == {90}


def test_local_home_recovers_crashed_runs(local_home: Path) -> None:
    with dg.DagsterInstance.from_config(str(local_home)) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert_recovers_crashed_runs(instance)


def test_commands_opening_a_new_home_at_once_open_it_one_at_a_time(local_home: Path) -> None:
    # Dagster makes a new home's SQLite tables on first open, unlocked between openers:
    # several at once could stamp the schedule storage twice, and no later open could read
    # the home ("more than one head present").

    def opened() -> float:
        with local_instance():
            return time.monotonic()

    with ThreadPoolExecutor(4) as pool, open(local_home / INSTANCE_LOCK_NAME, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another command, opening the home
        openings = [pool.submit(opened) for _ in range(4)]
        time.sleep(2.0)  # several times what opening a new home takes
        released = time.monotonic()
        fcntl.flock(held, fcntl.LOCK_UN)
        assert all(opening.result(timeout=120) > released for opening in openings)
    with dg.DagsterInstance.from_config(str(local_home)) as instance:  # still opens
        assert instance.get_runs() == []


def test_postgres_home_recovers_crashed_runs(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("PM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_url)
    monkeypatch.chdir(PROJECT_ROOT)  # the commands copy ./dagster.yaml
    home = prepare_local_home()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert_recovers_crashed_runs(instance)


def root_instance(temp_home: Path) -> dg.DagsterInstance:
    """The instance ``dagster dev`` makes in the repo root without DAGSTER_HOME: the repo's
    dagster.yaml, with a throw-away folder of Dagster's own."""
    return dg.DagsterInstance.from_ref(
        InstanceRef.from_dir(str(temp_home), config_dir=str(PROJECT_ROOT))
    )


def test_root_instance_is_the_local_home_when_nothing_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("DAGSTER_HOME", "DAGSTER_PG_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)  # PM_STATE_DIR unset: .pm_state in the working directory
    monkeypatch.delenv("PM_STATE_DIR", raising=False)
    with root_instance(tmp_path / "throwaway") as instance:
        storage = instance.get_ref().storage
        assert isinstance(storage, DagsterSqliteStorage)
        assert Path(storage.base_dir) == tmp_path / ".pm_state" / "dagster_home"
        assert_recovers_crashed_runs(instance)
        assert Path(instance.root_directory) == tmp_path / ".pm_state" / "dagster_home"
    # The pm-pipeline commands use that same folder.
    assert prepare_local_home() == tmp_path / ".pm_state" / "dagster_home"


def test_root_instance_is_postgres_with_dagster_pg_url(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("PM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_url.replace("+psycopg2", "", 1))
    with root_instance(tmp_path / "throwaway") as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert_recovers_crashed_runs(instance)
    assert not (tmp_path / "state").exists()


def worker_run(instance: dg.DagsterInstance, pid: int, host: str) -> dg.DagsterRun:
    """A STARTED run whose worker logged ``pid`` as the code server's worker does."""
    run = create_run_for_test(
        instance,
        job_name="landed_files_job",
        status=dg.DagsterRunStatus.STARTED,
        tags={GRPC_INFO_TAG: json.dumps({"host": host, "port": 4000})},
    )
    instance.report_engine_event(
        f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid)
    )
    return run


def test_run_monitoring_is_told_when_a_run_worker_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dead worker on this host fails its run at run monitoring's next poll, not after the
    run's max runtime; a live one, or one on another host, is left to the max runtime."""
    for variable in ("DAGSTER_HOME", "DAGSTER_PG_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PM_STATE_DIR", str(tmp_path / "state"))
    ended = subprocess.Popen(["sleep", "0"])
    ended.wait()  # reaped: its pid is free
    zombie = subprocess.Popen(["sleep", "0"])
    wait_for(lambda: zombie_state(zombie.pid), 10, "the child to end unreaped")
    with dg.DagsterInstance.from_config(str(prepare_local_home())) as instance:
        launcher = instance.run_launcher
        assert (
            isinstance(launcher, ProjectRunLauncher) and launcher.supports_check_run_worker_health
        )
        for pid, host, status in [
            (ended.pid, "localhost", WorkerStatus.FAILED),
            (zombie.pid, "localhost", WorkerStatus.FAILED),
            (os.getpid(), "localhost", WorkerStatus.RUNNING),
            (ended.pid, "code-server.example", WorkerStatus.RUNNING),
        ]:
            health = launcher.check_run_worker_health(worker_run(instance, pid, host))
            assert health.status == status, (pid, host, health)
    zombie.wait()


def zombie_state(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_views_refresh_one_at_a_time_behind_the_scoring_runs() -> None:
    """While a fleet's files score, each tick of the views' automation asks for a refresh;
    side by side, those runs took the cores from scoring."""
    from pm_pipeline.defs.sensors import PRIORITY_TAG, VIEWS_TAG, views_automation_sensor

    limits = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())["run_coordinator"][
        "config"
    ]["tag_concurrency_limits"]
    assert {"key": VIEWS_TAG, "limit": 1} in limits
    tags = views_automation_sensor.run_tags
    assert VIEWS_TAG in tags and int(tags[PRIORITY_TAG]) < 0  # scoring runs have 0
