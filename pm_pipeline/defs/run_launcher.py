"""The run launcher: Dagster's default one, which also tells run monitoring when a run's
worker process has died.

Dagster's ``DefaultRunLauncher`` starts each run in a process of the code server and cannot
say whether that process still lives, so run monitoring could only fail a run lost with its
worker (killed by the OS, or with the daemon) once it outlived its ``dagster/max_runtime``
(``PM_SCORING_MAX_RUNTIME_SECONDS``, 600 s). The worker logs its pid when it starts; on this
host a dead pid (or a zombie, or a pid given to a newer process) means the run will never
end by itself, and run monitoring fails it at its next poll (``poll_interval_seconds`` in
dagster.yaml), after which ``run_retries`` runs it again. A worker on another host (a code
server reached over the network) cannot be checked from here: its runs keep the max-runtime
bound.

With ``PM_RUN_LAUNCHER=celery`` the same entry of dagster.yaml gives dagster-celery's
``CeleryRunLauncher`` instead: each run is a task on the ``PM_CELERY_QUEUE`` queue, executed
by a long-lived pool process of a Celery worker started with ``celery_runs.yaml``, so a run
pays no process start and no import of the code location. Its health check asks the result
backend for the task's state, which every process must read alike: a database
(``PM_CELERY_BACKEND_URL=db+postgresql+psycopg2://...``), never ``rpc://``, whose states only
the thread that sent the task receives (run monitoring would read PENDING and fail every run).
A retraining still starts in a process of its own: its steps run in processes of their own
(the multiprocess executor), and a Celery pool process, a daemonic process, may not start
children.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dagster import DagsterEventType, DagsterRun
from dagster._core.launcher import DefaultRunLauncher, RunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._serdes import ConfigurableClassData

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.runs.processes import worker_gone

_STARTED_PROCESS = "Started process for run"


class ProjectRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` with a health check of the run worker's process."""

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> RunLauncher:
        settings = load_settings()
        if settings.run_launcher == "celery":
            # Imported here: Celery is half a second of imports that the default needs not.
            from pm_pipeline.defs.celery_run_launcher import celery_run_launcher

            return celery_run_launcher(settings, inst_data)
        return cls(inst_data=inst_data)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid, started_at = self._worker(run)
        host = _code_server_host(run)
        if worker_gone(pid, host, started_at):
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                f"the run worker (pid {pid}) is gone: killed, or lost "
                "with the daemon; run_retries runs it again",
            )
        # Alive, or not to be told from here: run monitoring's max runtime still applies.
        return CheckRunHealthResult(WorkerStatus.RUNNING, "")

    def _worker(self, run: DagsterRun) -> tuple[int | None, float | None]:
        """The pid the run's worker logged when it started, and when it did."""
        for entry in self._instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
            if not entry.message.startswith(_STARTED_PROCESS) or entry.dagster_event is None:
                continue
            data = entry.dagster_event.engine_event_data
            pid = data.metadata.get("pid") if data else None
            if pid is not None and str(pid.value).isdigit():
                return int(str(pid.value)), entry.timestamp
        return None, None


def _code_server_host(run: DagsterRun) -> str | None:
    """The host of the code server that started the run's worker (its worker runs there)."""
    info = run.tags.get(GRPC_INFO_TAG)
    if info is None:
        return None
    try:
        grpc = json.loads(info)
    except ValueError:
        return None
    return "" if grpc.get("socket") else str(grpc.get("host") or "")
