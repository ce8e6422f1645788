"""Running the code location's jobs in-process against the local (or configured) instance."""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.landing import partition_key_for
from pm_pipeline.db.engine import state_dir
from pm_pipeline.defs.assets import landed_files_partitions

DAGSTER_HOME_VARIABLE = "DAGSTER_HOME"
_LOCAL_INSTANCE_YAML = "telemetry:\n  enabled: false\n"
# The CLI prints its own one-line outcome; the full run log, tracebacks included, stays in
# the instance for the UI.
_QUIET_LOGGERS = {"console": {"config": {"log_level": "CRITICAL"}}}


@dataclass(frozen=True)
class JobOutcome:
    """How an in-process run ended, with the user-facing reason when it failed."""

    run_id: str
    success: bool
    failure: str | None


def local_instance() -> dg.DagsterInstance:
    """The Dagster instance under ``DAGSTER_HOME``, defaulting to a git-ignored SQLite folder."""
    if not os.environ.get(DAGSTER_HOME_VARIABLE):
        os.environ[DAGSTER_HOME_VARIABLE] = str(state_dir() / "dagster_home")
    home = Path(os.environ[DAGSTER_HOME_VARIABLE])
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(_LOCAL_INSTANCE_YAML)
    return dg.DagsterInstance.get()


def run_training(
    defs: dg.Definitions, instance: dg.DagsterInstance, readings_config: dict
) -> JobOutcome:
    """Materialize the training and validation groups, with their checks."""
    run_config = {
        "ops": {"raw_readings": {"config": readings_config}},
        "loggers": _QUIET_LOGGERS,
    }
    result = defs.resolve_job_def("training_job").execute_in_process(
        run_config=run_config, instance=instance, raise_on_error=False
    )
    return _outcome(result)


def run_scoring(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    path: Path,
    model_version: str | None,
) -> tuple[str, JobOutcome]:
    """Materialize ``file_events`` for one file, adding its dynamic partition first."""
    if not path.is_file():
        raise PipelineError(f"{path}: no such file; check the path.")
    key = partition_key_for(path)
    instance.add_dynamic_partitions(landed_files_partitions.name or "", [key])
    config = {"path": str(path.resolve()), "model_version": model_version}
    result = defs.resolve_job_def("file_scoring_job").execute_in_process(
        run_config={"ops": {"file_events": {"config": config}}, "loggers": _QUIET_LOGGERS},
        instance=instance,
        partition_key=key,
        raise_on_error=False,
    )
    return key, _outcome(result)


def latest_metadata(instance: dg.DagsterInstance, key: str, field: str) -> Any:
    """One metadata value of an asset's latest materialization, or None."""
    event = instance.get_latest_materialization_event(dg.AssetKey(key))
    materialization = event.asset_materialization if event else None
    if materialization is None or field not in materialization.metadata:
        return None
    return materialization.metadata[field].value


def _outcome(result: dg.ExecuteInProcessResult) -> JobOutcome:
    failures = [
        event.step_failure_data.error
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data.error is not None
    ]
    reason = None
    if failures:
        error = failures[0]
        while error.cause is not None and error.cls_name != "PipelineError":
            error = error.cause
        reason = error.message.strip().removeprefix("pm_pipeline.core.errors.PipelineError: ")
    elif not result.success:
        reason = "the run failed; open it in the Dagster UI for details."
    return JobOutcome(result.run_id, result.success, reason)
