"""landed_file_sensor: every controller export dropped into the drop folder becomes a run."""

import json
import os
import time

import dagster as dg

from pm_pipeline.core.landing import (
    LandingDecision,
    archive_file,
    drop_dir,
    list_landed_files,
    plan_landed_files,
    quarantine_file,
)
from pm_pipeline.defs.assets import landed_files_partitions
from pm_pipeline.defs.jobs import file_scoring_job

RUN_KEY_TAG = "dagster/run_key"
WILL_RETRY_TAG = "dagster/will_retry"
MAX_RUNTIME_TAG = "dagster/max_runtime"
MAX_RUNTIME_VARIABLE = "PM_SCORING_MAX_RUNTIME_SECONDS"
DEFAULT_MAX_RUNTIME_SECONDS = "600"
SETTLE_SECONDS_VARIABLE = "PM_SETTLE_SECONDS"
MAX_FILES_VARIABLE = "PM_MAX_FILES_PER_TICK"
DEFAULT_SETTLE_SECONDS = 2.0
DEFAULT_MAX_FILES = 20


@dg.sensor(
    job=file_scoring_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Scores each new or changed *.csv in PM_DROP_DIR (default data/incoming).",
)
def landed_file_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    folder = drop_dir()
    folder.mkdir(parents=True, exist_ok=True)
    decisions = plan_landed_files(
        list_landed_files(folder),
        now=time.time(),
        settle_s=float(os.environ.get(SETTLE_SECONDS_VARIABLE, DEFAULT_SETTLE_SECONDS)),
        max_files=int(os.environ.get(MAX_FILES_VARIABLE, DEFAULT_MAX_FILES)),
    )
    ready = [d for d in decisions if d.action == "score" and _is_new(context, d)]
    for bad in (d for d in decisions if d.action == "quarantine"):
        moved = quarantine_file(bad.path, bad.reason)
        context.log.warning(f"quarantined {bad.path.name} → {moved}: {bad.reason}")
    waiting = [d.path.name for d in decisions if d.action == "wait"]
    if waiting:
        context.log.info(f"waiting for {len(waiting)} file(s) still being written: {waiting}")
    return dg.SensorResult(
        run_requests=[_run_request(decision) for decision in ready],
        dynamic_partitions_requests=[
            landed_files_partitions.build_add_request(
                sorted({decision.partition_key for decision in ready})
            )
        ]
        if ready
        else [],
        # The cursor is only a small summary for the UI; run keys carry exactly-once.
        cursor=json.dumps(
            {"last_tick": time.time(), "requested": len(ready), "waiting": len(waiting)}
        ),
    )


def _is_new(context: dg.SensorEvaluationContext, decision: LandingDecision) -> bool:
    """False for bytes a run has already taken: scored ones are archived as duplicates.

    The daemon would skip a repeated run key anyway; this keeps the drop folder clean.
    """
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(tags={RUN_KEY_TAG: decision.run_key}), limit=1
    )
    if not records:
        return True
    status = records[0].dagster_run.status
    if status == dg.DagsterRunStatus.SUCCESS and decision.path.exists():
        moved = archive_file(decision.path, decision.sha256)
        context.log.info(f"{decision.path.name} was already scored; archived as {moved.name}")
    elif status == dg.DagsterRunStatus.FAILURE:
        run = records[0].dagster_run
        if run.tags.get(WILL_RETRY_TAG) == "true":
            # A crashed run (its worker or the daemon died): run_retries re-executes it.
            context.log.info(f"{decision.path.name}: run {run.run_id} failed; Dagster retries it.")
        else:
            context.log.warning(
                f"{decision.path.name}: run {run.run_id} for these bytes failed; "
                "re-execute it from the UI once the cause is fixed."
            )
    return False


def _run_request(decision: LandingDecision) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=decision.run_key,
        partition_key=decision.partition_key,
        run_config={
            "ops": {"file_events": {"config": {"path": str(decision.path), "archive": True}}}
        },
        tags={
            "pm/file_sha256": decision.sha256,
            # With run monitoring on, a run still STARTED after this long is failed, and then
            # retried: the way a run whose worker died along with the daemon gets scored.
            MAX_RUNTIME_TAG: str(
                int(os.environ.get(MAX_RUNTIME_VARIABLE, DEFAULT_MAX_RUNTIME_SECONDS))
            ),
        },
    )
