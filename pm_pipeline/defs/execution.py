"""Running the code location's jobs in-process against the local (or configured) instance."""

import contextlib
import fcntl
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.landing.plan import file_key_for
from pm_pipeline.core.runs.processes import (
    OWNER_HOST_TAG,
    OWNER_PID_TAG,
    owner_tags,
    this_host,
    worker_gone,
)
from pm_pipeline.core.schema import DEFAULT_ROBOT_ID
from pm_pipeline.db.engine import normalise_url
from pm_pipeline.db.failures import storage_failure
from pm_pipeline.defs.instance import (
    DAGSTER_HOME_VARIABLE,
    DAGSTER_PG_VARIABLE,
    local_dagster_home,
)
from pm_pipeline.defs.partitions import ROBOTS

PROJECT_SETTINGS = "dagster.yaml"
# A crashed run is failed and run again: the same blocks end the repo's dagster.yaml (a test
# keeps them equal), whose comment says how; docs/reliability.md names the tests.
RUN_RECOVERY_YAML = """\
run_launcher:
  module: pm_pipeline.defs.run_launcher
  class: ProjectRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: 10
  max_resume_run_attempts: 0
run_retries:
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false
"""
# Queued runs start within a second, not the default five: a dropped file's events are due
# seconds after it lands. The repo's dagster.yaml holds the same block (a test keeps them equal).
RUN_QUEUE_YAML = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
    # Runs of different lanes are launched side by side: a launch (a process importing the
    # code location) takes seconds on a busy host, and one at a time it would serialize them.
    dequeue_use_threads: true
    dequeue_num_workers: 4
    # Two runs of landed files per lane at a time (pm/scoring_lane; a robot always scores in
    # the same lane, PM_SCORING_LANES of them): the second starts its process while the first
    # scores, and scores once the first has ended, so each robot's files score in landing
    # order, each as the continuation of the one before, while other lanes' robots score
    # beside it; one retraining at a time per robot (runs carry pm/robot). Scoring and
    # retraining meet only at the readings fence (pm_pipeline/db/fence.py).
    tag_concurrency_limits:
      - key: pm/scoring_lane
        value:
          applyLimitPerUniqueValue: true
        limit: 2
      - key: pm/robot
        value:
          applyLimitPerUniqueValue: true
        limit: 1
      # One refresh of the views at a time (views_automation_sensor's runs): while a fleet's
      # files score, each of its ticks asks for one, and side by side they took the cores
      # from scoring (17 runs for 200 files).
      - key: pm/views
        limit: 1
"""
# Sensor and schedule ticks are purged by the daemon past these many days (Dagster keeps a
# sensor's runs-requesting ticks for ever by default: 2,880 a day at a 30 s interval). The
# repo's dagster.yaml holds the same block (a test keeps them equal); docs/operations.md
# ("Retention") says how old runs go.
TICK_RETENTION_YAML = """\
retention:
  schedule:
    purge_after_days: 90
  sensor:
    purge_after_days:
      skipped: 1
      success: 14
      started: 14
      failure: 30
  auto_materialize:
    purge_after_days:
      skipped: 1
      success: 14
      started: 14
      failure: 30
"""
LOCAL_INSTANCE_YAML = (
    "telemetry:\n  enabled: false\n" + RUN_QUEUE_YAML + RUN_RECOVERY_YAML + TICK_RETENTION_YAML
)
# The CLI prints its own one-line outcome; the full run log, tracebacks included, stays in
# the instance for the UI.
_QUIET_LOGGERS = {"console": {"config": {"log_level": "CRITICAL"}}}


@dataclass(frozen=True)
class JobOutcome:
    """How an in-process run ended, with the user-facing reason when it failed."""

    run_id: str
    success: bool
    failure: str | None


def prepare_local_home() -> Path:
    """Point ``DAGSTER_HOME`` at the local instance folder and write its settings.

    The default folder (``$PM_STATE_DIR/dagster_home``) gets the project's ``dagster.yaml``
    (Postgres storage) when ``DAGSTER_PG_URL`` is set and plain SQLite storage otherwise; a
    ``DAGSTER_HOME`` the user chose keeps its own settings file, and gets those settings only
    when it has none. ``DAGSTER_PG_URL`` is normalised to the psycopg2 driver, because
    dagster-postgres hands it to SQLAlchemy unchanged.

    ``dagster dev`` run in the repo root without ``DAGSTER_HOME`` lands on the same folder
    through the repo's ``dagster.yaml`` (see :mod:`pm_pipeline.defs.instance`).
    """
    pg_url = os.environ.get(DAGSTER_PG_VARIABLE)
    if pg_url:
        os.environ[DAGSTER_PG_VARIABLE] = normalise_url(pg_url, DAGSTER_PG_VARIABLE)
    default_home = local_dagster_home()
    home = Path(os.environ.setdefault(DAGSTER_HOME_VARIABLE, str(default_home))).resolve()
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    # A home with no settings file makes Dagster warn on every command ("No dagster instance
    # configuration file"); the local settings are what it would otherwise default to.
    if home == default_home or not (settings.exists() or settings.with_suffix(".yml").exists()):
        _write_if_changed(settings, _instance_settings(bool(pg_url)))
    return home


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it holds it already, replacing the file whole: a
    daemon's sensor tick or another command reads the settings at any moment, and must never
    find them half written."""
    if path.exists() and path.read_text() == text:
        return
    # A name of its own per writer (two threads of one process may write at once), made
    # with the umask's permissions, as the file itself was.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    partial.write_text(text)
    os.replace(partial, path)


INSTANCE_LOCK_NAME = ".pm_instance.lock"


@contextlib.contextmanager
def _one_opening_at_a_time(home: Path) -> Iterator[None]:
    """Hold the home's lock file while an instance opens (closing it releases the lock).

    Dagster makes a new home's SQLite tables on first open without a lock between
    processes: two commands started together on a new state folder could both stamp a
    revision, and no later command could open the home ("more than one head present"; three
    processes opening a new home at once left 3 homes of 8 so).
    """
    with open(home / INSTANCE_LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def local_instance() -> dg.DagsterInstance:
    """The Dagster instance the local commands share (see :func:`prepare_local_home`).

    Telemetry is off for the CLI's in-process runs whatever the home's dagster.yaml says:
    Dagster prints its opt-out banner on the first run of an instance with telemetry on, and
    the CLI's output is its own one-line outcome. ``local_temp`` with a folder is Dagster's
    public way to load an instance from that folder with settings overridden.
    """
    home = prepare_local_home()
    with _one_opening_at_a_time(home):
        instance = dg.DagsterInstance.local_temp(
            str(home), overrides={"telemetry": {"enabled": False}}
        )
    end_abandoned_runs(instance)
    return instance


UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def end_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs a command of this host executed in its own process and never
    ended (it died, or its storage was full when it tried); return their ids.

    Such a run would otherwise stay STARTED for good: no daemon watches a command's runs.
    """
    ended = []
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=UNFINISHED, tags={OWNER_HOST_TAG: this_host()})
    )
    for record in records:
        run = record.dagster_run
        pid = run.tags.get(OWNER_PID_TAG, "")
        started_by = record.create_timestamp.timestamp()
        if pid.isdigit() and worker_gone(int(pid), this_host(), started_by):
            instance.report_run_failed(
                run, f"the command that ran it (pid {pid}) ended before the run did"
            )
            ended.append(run.run_id)
    return ended


def _execute(job: dg.JobDefinition, instance: dg.DagsterInstance, **kwargs: Any):
    """``execute_in_process`` with this process named as the run's owner. When Dagster's own
    storage fails under the run (a full disk, a lost connection), the run is marked failed if
    the storage still takes that (else the next command does it) and the error is one line."""
    run_id = kwargs.pop("run_id", None) or str(uuid.uuid4())
    try:
        return job.execute_in_process(
            instance=instance, run_id=run_id, tags=owner_tags(), raise_on_error=False, **kwargs
        )
    except Exception as error:
        failure = storage_failure(error, f"run {run_id} of {job.name}")
        if failure is None:
            raise
        _try_to_fail(instance, run_id, str(failure))
        raise failure from None


def _try_to_fail(instance: dg.DagsterInstance, run_id: str, reason: str) -> None:
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        with contextlib.suppress(Exception):  # the storage may still be full: a later command
            instance.report_run_failed(run, reason)


def _instance_settings(on_postgres: bool) -> str:
    if not on_postgres:
        return LOCAL_INSTANCE_YAML
    project_settings = Path(PROJECT_SETTINGS)
    if not project_settings.is_file():
        raise PipelineError(
            f"DAGSTER_PG_URL is set but {PROJECT_SETTINGS} is not in {Path.cwd()}; run from the "
            "project root, or set DAGSTER_HOME to a folder holding your instance settings."
        )
    return project_settings.read_text()


def add_robot(instance: dg.DagsterInstance, robot_id: str) -> str:
    """Make ``robot_id`` a partition of the ``robots`` dimension (a no-op when it is one)."""
    if not instance.has_dynamic_partition(ROBOTS, robot_id):
        instance.add_dynamic_partitions(ROBOTS, [robot_id])
    return robot_id


def run_training(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    readings_config: dict,
    robot_id: str = DEFAULT_ROBOT_ID,
    min_training_rows: int | None = None,
) -> JobOutcome:
    """Materialize the training and validation groups of one robot, with their checks;
    ``min_training_rows`` overrides ``PM_MIN_TRAINING_ROWS`` for this run."""
    ops: dict = {"raw_readings": {"config": readings_config}}
    if min_training_rows is not None:
        ops["synthetic_events"] = {"config": {"min_training_rows": min_training_rows}}
    run_config = {"ops": ops, "loggers": _QUIET_LOGGERS}
    result = _execute(
        defs.resolve_job_def("training_job"),
        instance,
        run_config=run_config,
        partition_key=add_robot(instance, robot_id),
    )
    return _outcome(result)


def run_views(
    defs: dg.Definitions, instance: dg.DagsterInstance, robot_id: str = DEFAULT_ROBOT_ID
) -> JobOutcome:
    """Refresh one robot's views (data health, axis summary, events summary, open events)."""
    result = _execute(
        defs.resolve_job_def("views_job"),
        instance,
        run_config={"loggers": _QUIET_LOGGERS},
        partition_key=add_robot(instance, robot_id),
    )
    return _outcome(result)


def run_scoring(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    path: Path,
    model_version: str | None,
    run_id: str | None = None,
    robot_id: str = DEFAULT_ROBOT_ID,
) -> tuple[str, JobOutcome]:
    """Score one file of one robot with ``landed_files_job``, the sensor's job: the file
    stays where it is, and is a materialization of its robot-day's ``file_events``.

    Returns the file's key (the events' source) and the outcome. A caller that passes
    ``run_id`` can follow the run's events as they happen (``instance.add_event_listener``)."""
    if not path.is_file():
        raise PipelineError(f"{path}: no such file; check the path.")
    key = file_key_for(path)
    add_robot(instance, robot_id)
    landed = {"robot": robot_id, "file": key, "path": str(path.resolve())}
    config = {"files": [landed], "archive": False, "model_version": model_version}
    result = _execute(
        defs.resolve_job_def("landed_files_job"),
        instance,
        run_config={"ops": {"score_landed_files": {"config": config}}, "loggers": _QUIET_LOGGERS},
        run_id=run_id,
    )
    return key, _outcome(result)


def latest_metadata(
    instance: dg.DagsterInstance,
    key: str,
    field: str,
    run_id: str | None = None,
    partition: str | None = None,
) -> Any:
    """One metadata value of an asset's latest materialization (of ``partition`` and in
    ``run_id``, if given)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(key),
            asset_partitions=[partition] if partition is not None else None,
        ),
        limit=1,
    ).records
    event = records[0].event_log_entry if records else None
    if event is None or (run_id is not None and event.run_id != run_id):
        return None
    materialization = event.asset_materialization
    if materialization is None or field not in materialization.metadata:
        return None
    return materialization.metadata[field].value


def scored_file_metadata(instance: dg.DagsterInstance, run_id: str) -> tuple[str, dict[str, Any]]:
    """The ``file_events`` partition (robot-day) a run of one file materialized, and the
    values of its metadata; ``("", {})`` when it materialized none."""
    entries = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    for entry in entries:
        materialization = entry.asset_materialization
        if materialization is not None and materialization.asset_key == dg.AssetKey("file_events"):
            values = {key: value.value for key, value in materialization.metadata.items()}
            return str(materialization.partition), values
    return "", {}


def _outcome(result: dg.ExecuteInProcessResult) -> JobOutcome:
    failures = [event.step_failure_data for event in result.all_events if event.is_step_failure]
    reason = None
    if failures:
        reason = _failure_reason(failures[0])
    elif not result.success:
        reason = "the run failed; open it in the Dagster UI for details."
    return JobOutcome(result.run_id, result.success, reason)


def _failure_reason(failure: Any) -> str:
    """The user-facing line of a step failure: a Failure's description, else the innermost
    PipelineError, else the error's own first line."""
    if failure.user_failure_data is not None and failure.user_failure_data.description:
        return failure.user_failure_data.description
    error = failure.error
    if error is None:
        return "the step failed; open the run in the Dagster UI for details."
    while error.cause is not None and error.cls_name not in (
        "PipelineError",
        "DatabaseUnavailable",
        "StorageFull",
    ):
        error = error.cause
    message = error.message.strip().splitlines()[0]
    return message.split(": ", 1)[1] if ": " in message else message
