"""PM_RUN_LAUNCHER=celery makes the instance's run launcher dagster-celery's, on the project's
broker, queue and a database result backend that run monitoring reads; retraining and runs
without a Celery task stay with the process launcher's health check."""

import subprocess
from pathlib import Path

import dagster as dg
import pytest
from celery import Celery
from dagster._core.launcher.base import WorkerStatus
from dagster._core.test_utils import create_run_for_test
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

from pm_pipeline.config.settings import SettingsError, load_settings
from pm_pipeline.defs.celery_run_launcher import ProjectCeleryRunLauncher, _in_own_process
from pm_pipeline.defs.execution import prepare_local_home
from pm_pipeline.defs.run_launcher import ProjectRunLauncher
from pm_pipeline_tests.commands import clean_env, run_cli
from pm_pipeline_tests.defs.test_instance_settings import worker_run


@pytest.fixture
def celery_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """The local instance home with the Celery run launcher chosen; its result backend."""
    for variable in ("DAGSTER_HOME", "DAGSTER_PG_URL"):
        monkeypatch.delenv(variable, raising=False)
    backend = f"db+sqlite:///{tmp_path / 'celery-results.db'}"
    monkeypatch.setenv("PM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PM_RUN_LAUNCHER", "celery")
    monkeypatch.setenv("PM_CELERY_BROKER_URL", "pyamqp://pm:s3cret@broker.example:5672//")
    monkeypatch.setenv("PM_CELERY_BACKEND_URL", backend)
    monkeypatch.setenv("PM_CELERY_QUEUE", "plant-7")
    return prepare_local_home(), backend


def test_the_process_launcher_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("DAGSTER_HOME", "DAGSTER_PG_URL", "PM_RUN_LAUNCHER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PM_STATE_DIR", str(tmp_path / "state"))
    with dg.DagsterInstance.from_config(str(prepare_local_home())) as instance:
        launcher = instance.run_launcher
        assert type(launcher) is ProjectRunLauncher


def test_celery_launcher_takes_the_projects_broker_backend_and_queue(
    celery_home: tuple[Path, str],
) -> None:
    home, backend = celery_home
    with dg.DagsterInstance.from_config(str(home)) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, ProjectCeleryRunLauncher)
        conf = launcher.celery.conf
        assert conf.broker_url == "pyamqp://pm:s3cret@broker.example:5672//"
        assert conf.result_backend == backend
        assert conf.task_default_queue == "plant-7" and conf.task_track_started
        # The URLs live in the process, not in the instance's config the UI shows.
        assert "s3cret" not in repr(instance.get_ref())


def test_run_monitoring_reads_the_task_state_a_worker_stored(
    celery_home: tuple[Path, str],
) -> None:
    """Another process's Celery app (a worker's) stores the task's state; the daemon's
    launcher reads it from the shared backend."""
    home, backend = celery_home
    worker_app = Celery("worker", broker="memory://", backend=backend)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, ProjectCeleryRunLauncher)
        for state, status in [
            ("STARTED", WorkerStatus.RUNNING),
            ("SUCCESS", WorkerStatus.SUCCESS),
            ("FAILURE", WorkerStatus.FAILED),
        ]:
            task_id = f"task-{state}"
            result = RuntimeError("lost") if state == "FAILURE" else None
            worker_app.backend.store_result(task_id, result, state)
            run = create_run_for_test(
                instance,
                job_name="landed_files_job",
                status=dg.DagsterRunStatus.STARTED,
                tags={DAGSTER_CELERY_TASK_ID_TAG: task_id},
            )
            assert launcher.check_run_worker_health(run).status == status, state
        # A retraining started in its own process is checked by its worker's pid.
        ended = subprocess.Popen(["sleep", "0"])
        ended.wait()
        health = launcher.check_run_worker_health(worker_run(instance, ended.pid, "localhost"))
        assert health.status == WorkerStatus.FAILED


def test_retraining_starts_in_its_own_process(celery_home: tuple[Path, str]) -> None:
    with dg.DagsterInstance.from_config(str(celery_home[0])) as instance:
        training = create_run_for_test(instance, job_name="training_job")
        scoring = create_run_for_test(instance, job_name="landed_files_job")
    assert _in_own_process(training) and not _in_own_process(scoring)


def test_an_rpc_backend_is_refused_with_the_fix_by_the_settings() -> None:
    for backend in ({}, {"PM_CELERY_BACKEND_URL": "rpc://"}):  # the default, and said
        with pytest.raises(SettingsError) as refused:
            load_settings({"PM_RUN_LAUNCHER": "celery", **backend})
        assert str(refused.value) == (
            "PM_RUN_LAUNCHER=celery needs PM_CELERY_BACKEND_URL on a database that the daemon "
            "and the workers share (e.g. db+postgresql+psycopg2://user:password@host:5432/db): "
            "with 'rpc://' run monitoring cannot read a run's task state and would fail every "
            "run."
        )
    # Celery steps under the process launcher report back to the thread that sent them.
    assert load_settings({"PM_EXECUTOR": "celery"}).celery_backend_url == "rpc://"


def test_pm_pipeline_dev_refuses_an_rpc_backend_before_it_starts_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PM_CELERY_BACKEND_URL", raising=False)  # the default, rpc://
    state = tmp_path / "state"
    # A process of its own: were it not refused, `dev` would serve until the timeout.
    refused = run_cli(
        "dev",
        env=clean_env({"PM_STATE_DIR": str(state), "PM_RUN_LAUNCHER": "celery"}),
        cwd=tmp_path,
        expect=1,
        timeout=60,
    )
    assert refused.stderr.startswith("error: PM_RUN_LAUNCHER=celery needs PM_CELERY_BACKEND_URL")
    assert refused.stdout == "" and not state.exists()  # no instance, no database made


def test_the_launcher_meets_the_same_refusal(
    celery_home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PM_CELERY_BACKEND_URL", "rpc://")
    with (
        dg.DagsterInstance.from_config(str(celery_home[0])) as instance,
        pytest.raises(SettingsError, match=r"db\+postgresql\+psycopg2://"),
    ):
        instance.run_launcher  # noqa: B018 - built when first read


def test_an_unknown_run_launcher_is_one_line() -> None:
    with pytest.raises(SettingsError, match=r"^PM_RUN_LAUNCHER='k8s': not a run launcher"):
        load_settings({"PM_RUN_LAUNCHER": "k8s"})
