"""landed_file_sensor: every controller export dropped into the drop folder becomes a run."""

import json
import time
from functools import partial

import dagster as dg

from pm_pipeline.core.landing.plan import (
    EarlierRun,
    LandingDecision,
    after_earlier_run,
    plan_landed_files,
)
from pm_pipeline.defs.assets import landed_files_partitions
from pm_pipeline.defs.jobs import MAX_RUNTIME_TAG, file_scoring_job
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline.services.landing import (
    archive_file,
    judge_landed_file,
    list_landed_files,
    quarantine_file,
)
from pm_pipeline.services.notifications import channels_from, deliver_due
from pm_pipeline.settings import Settings, load_settings

RUN_KEY_TAG = "dagster/run_key"
WILL_RETRY_TAG = "dagster/will_retry"
AUTO_RETRY_RUN_ID_TAG = "dagster/auto_retry_run_id"
RERUN_OF_TAG = "pm/rerun_of"


@dg.sensor(
    job=file_scoring_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Scores each new or changed *.csv in PM_DROP_DIR (default data/incoming).",
)
def landed_file_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    # A bad setting fails the tick here with one line per variable, before any file moves.
    settings = load_settings()
    folder = settings.drop_dir
    folder.mkdir(parents=True, exist_ok=True)
    decisions = plan_landed_files(
        list_landed_files(folder),
        now=time.time(),
        settle_s=settings.settle_seconds,
        max_files=settings.max_files_per_tick,
        judge=partial(judge_landed_file, fmt=settings.export_format),
    )
    requested = [
        (decision, request)
        for decision in decisions
        if decision.action == "score"
        and (request := _request_for(context, decision, settings)) is not None
    ]
    ready = [decision for decision, _ in requested]
    for bad in (d for d in decisions if d.action == "quarantine"):
        moved = quarantine_file(bad.path, bad.reason)
        context.log.warning(f"quarantined {bad.path.name} → {moved}: {bad.reason}")
    waiting = [d.path.name for d in decisions if d.action == "wait"]
    if waiting:
        context.log.info(f"waiting for {len(waiting)} file(s) still being written: {waiting}")
    return dg.SensorResult(
        run_requests=[request for _, request in requested],
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


def _request_for(
    context: dg.SensorEvaluationContext, decision: LandingDecision, settings: Settings
) -> dg.RunRequest | None:
    """A run request for bytes no run has taken yet, or for bytes whose run crashed and
    Dagster's promised retry never started; None otherwise (a scored duplicate is archived).

    The daemon would skip a repeated run key anyway; this keeps the drop folder clean.
    """
    record = _newest_run(context, decision.run_key)
    runtime_s = settings.scoring_max_runtime_seconds
    if record is None:
        return _run_request(decision, decision.run_key, runtime_s)
    earlier = _earlier(record)
    step = after_earlier_run(earlier, settings.retry_grace_seconds)
    if step == "rerun":
        # One rerun per crashed run: its run key names the run it replaces.
        rerun_key = f"{decision.run_key}:rerun-{earlier.run_id[:8]}"
        rerun = _newest_run(context, rerun_key)
        if rerun is None:
            context.log.warning(
                f"{decision.path.name}: run {earlier.run_id} crashed and Dagster's retry did "
                "not start; scoring the file again."
            )
            return _run_request(decision, rerun_key, runtime_s, rerun_of=earlier.run_id)
        earlier = _earlier(rerun)
        step = after_earlier_run(earlier, grace_s=float("inf"))
    if step == "archive" and decision.path.exists():
        moved = archive_file(decision.path, decision.sha256)
        context.log.info(f"{decision.path.name} was already scored; archived as {moved.name}")
    elif step == "wait" and earlier.will_retry:
        context.log.info(f"{decision.path.name}: run {earlier.run_id} failed; Dagster retries it.")
    elif step == "failed":
        context.log.warning(
            f"{decision.path.name}: run {earlier.run_id} for these bytes failed; "
            "re-execute it from the UI once the cause is fixed."
        )
    return None


def _newest_run(context: dg.SensorEvaluationContext, run_key: str) -> dg.RunRecord | None:
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1
    )
    return records[0] if records else None


def _earlier(record: dg.RunRecord) -> EarlierRun:
    run = record.dagster_run
    ended = record.end_time or record.update_timestamp.timestamp()
    return EarlierRun(
        run_id=run.run_id,
        status=run.status.value,
        will_retry=run.tags.get(WILL_RETRY_TAG) == "true",
        retry_launched=AUTO_RETRY_RUN_ID_TAG in run.tags,
        ended_s_ago=time.time() - ended,
    )


def _run_request(
    decision: LandingDecision, run_key: str, max_runtime_s: int, rerun_of: str | None = None
) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key,
        partition_key=decision.partition_key,
        run_config={
            "ops": {"file_events": {"config": {"path": str(decision.path), "archive": True}}}
        },
        tags={
            "pm/file_sha256": decision.sha256,
            # With run monitoring on, a run still STARTED after this long is failed, and then
            # retried: the way a run whose worker died along with the daemon gets scored.
            MAX_RUNTIME_TAG: str(max_runtime_s),
            **({RERUN_OF_TAG: rerun_of} if rerun_of else {}),
        },
    )


views_automation_sensor = dg.AutomationConditionSensorDefinition(
    "views_automation_sensor",
    target=dg.AssetSelection.assets("events_summary", "open_events"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description="Refreshes events_summary and open_events whenever a landed file's events "
    "are stored.",
)


@dg.sensor(
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Delivers queued event notifications to PM_ALERT_WEBHOOK_URL and by e-mail "
    "(PM_SMTP_HOST), retrying failed ones with backoff; idle when neither is set.",
)
def notification_sensor(
    context: dg.SensorEvaluationContext, readings_db: ReadingsDatabaseResource
) -> dg.SkipReason:
    settings = load_settings()
    channels = channels_from(settings)
    if not channels:
        return dg.SkipReason("no PM_ALERT_WEBHOOK_URL or PM_SMTP_HOST set: nothing to send")
    report = deliver_due(readings_db.engine(), channels, settings.alert_retry_base_seconds)
    for error in report.errors:
        context.log.warning(error)  # masked: no webhook token, no SMTP password
    summary = f"{report.delivered} notification(s) delivered, {report.failed} failed"
    if report.delivered:
        context.log.info(summary)
    return dg.SkipReason(summary)
