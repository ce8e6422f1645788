"""dagster-celery's run launcher, chosen with ``PM_RUN_LAUNCHER=celery`` (see
:mod:`pm_pipeline.defs.run_launcher` and "Run launcher" in docs/fleet.md)."""

from __future__ import annotations

from typing import Any

from dagster import DagsterInstance, DagsterRun
from dagster._core.launcher import LaunchRunContext, RunLauncher
from dagster._core.launcher.base import CheckRunHealthResult
from dagster._serdes import ConfigurableClassData
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

from pm_pipeline.config.settings import Settings
from pm_pipeline.defs.run_launcher import ProjectRunLauncher


def celery_run_launcher(settings: Settings, inst_data: ConfigurableClassData) -> RunLauncher:
    """dagster-celery's launcher on the project's broker, backend and queue, retraining aside.

    The URLs are read here, in the process that launches and monitors runs, and never
    written into the instance's config, so a password in them stays out of the UI."""
    return ProjectCeleryRunLauncher(
        by_process=ProjectRunLauncher(inst_data=inst_data),
        default_queue=settings.celery_queue,
        broker=settings.celery_broker_url,
        backend=settings.celery_backend_url,  # never rpc://: the settings refuse it
        # STARTED is what tells run monitoring that a worker runs the run: dagster-celery's
        # task asks for it, and celery_runs.yaml asks the workers too.
        config_source={"task_track_started": True},
        inst_data=inst_data,
    )


class ProjectCeleryRunLauncher(CeleryRunLauncher):
    """``CeleryRunLauncher`` for every run but a retraining, which ``by_process`` starts."""

    def __init__(self, by_process: ProjectRunLauncher, **celery: Any) -> None:
        super().__init__(**celery)
        self._by_process = by_process

    def register_instance(self, instance: DagsterInstance) -> None:
        super().register_instance(instance)
        self._by_process.register_instance(instance)

    def launch_run(self, context: LaunchRunContext) -> None:
        if _in_own_process(context.dagster_run):
            self._by_process.launch_run(context)
        else:
            super().launch_run(context)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is not None and DAGSTER_CELERY_TASK_ID_TAG not in run.tags:
            return self._by_process.terminate(run_id)
        return super().terminate(run_id)

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        if DAGSTER_CELERY_TASK_ID_TAG not in run.tags:
            return self._by_process.check_run_worker_health(run)
        return super().check_run_worker_health(run)

    def get_run_worker_debug_info(
        self, run: DagsterRun, include_container_logs: bool | None = True
    ) -> str | None:
        if DAGSTER_CELERY_TASK_ID_TAG not in run.tags:
            return self._by_process.get_run_worker_debug_info(run, include_container_logs)
        return super().get_run_worker_debug_info(run, include_container_logs)

    def dispose(self) -> None:
        self._by_process.dispose()
        super().dispose()


def _in_own_process(run: DagsterRun) -> bool:
    """A retraining: its steps start processes, which a Celery pool process may not."""
    from pm_pipeline.defs.jobs import TRAINING_JOB

    return run.job_name == TRAINING_JOB
