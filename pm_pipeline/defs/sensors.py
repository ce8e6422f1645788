"""landed_file_sensor: every controller export dropped into the drop folder becomes a run."""

import json
import time
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import dagster as dg

from pm_pipeline.config.robots import Fleet, load_fleet
from pm_pipeline.config.settings import Settings
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.landing.batches import (
    batch_run_key,
    fleet_batches,
    lanes_not_waiting,
    scoring_lane,
)
from pm_pipeline.core.landing.plan import (
    EarlierRun,
    LandingDecision,
    after_earlier_run,
    looks_in_cursor,
    looks_of,
    not_in_flight,
    plan_landed_files,
)
from pm_pipeline.defs.archive_watch import reland_grown_archives
from pm_pipeline.defs.assets.scoring import IN_FLIGHT, SCORING_LANE_TAG
from pm_pipeline.defs.jobs import LANDED_FILES_JOB, MAX_RUNTIME_TAG, landed_files_in
from pm_pipeline.defs.legacy_partitions import upgrade_file_partitions
from pm_pipeline.defs.partitions import ROBOTS, robots_partitions
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.services.drop_folders import check_finished_folders
from pm_pipeline.services.landing import (
    ChangedAfterScoring,
    archive_file,
    judge_fleet_file,
    list_landed_files,
    quarantine_file,
)
from pm_pipeline.services.notifications import channels_from, deliver_due

RUN_KEY_TAG = "dagster/run_key"
ROBOTS_TAG = "pm/robots"
"""The robots whose files a run scores, comma-separated."""
WILL_RETRY_TAG = "dagster/will_retry"
AUTO_RETRY_RUN_ID_TAG = "dagster/auto_retry_run_id"
RERUN_OF_TAG = "pm/rerun_of"
VIEWS_TAG = "pm/views"
"""A refresh of the views; the run queue starts one at a time (dagster.yaml)."""
PRIORITY_TAG = "dagster/priority"
VIEWS_PRIORITY = -1
"""The run queue starts queued runs of higher priority first (default 0): scoring first."""


@dg.sensor(
    job_name=LANDED_FILES_JOB,
    # The daemon looks at its sensors every 5 s; at an interval of 5 s a tick would come
    # every other look. A tick with nothing new is cheap: files of runs in flight are skipped.
    minimum_interval_seconds=1,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Scores each new or changed *.csv in PM_DROP_DIR (default data/incoming): the "
    "top level is the default robot's, <robot_id>/ each robot's; the files a tick finds score "
    "in one run per lane (PM_SCORING_LANES), lanes side by side.",
)
def landed_file_sensor(
    context: dg.SensorEvaluationContext, settings: SettingsResource
) -> dg.SensorResult:
    # A bad setting or robots file fails the tick here with one line, before any file moves.
    pm = settings.loaded
    fleet = load_fleet(pm)
    folder = pm.drop_dir
    folder.mkdir(parents=True, exist_ok=True)
    check_finished_folders(folder)  # a symlinked archive/ fails the tick before any move
    reland_grown_archives(context, pm)
    upgrade_file_partitions(context.instance, context.log)
    landed = list_landed_files(folder)
    in_flight = _runs_in_flight(context)
    untaken = not_in_flight(landed, _paths_of(in_flight))
    waiting = _lanes_waiting(in_flight)
    ahead = _files_per_lane(in_flight)
    takeable = lanes_not_waiting(untaken, waiting, pm.scoring_lanes)
    if len(takeable) < len(untaken):
        context.log.info(
            f"{len(untaken) - len(takeable)} file(s) go into the next run of their lane "
            f"({', '.join(sorted(waiting))}: its next run is already waiting)"
        )
    decisions = plan_landed_files(
        takeable,
        now=time.time(),
        settle_s=pm.settle_seconds,
        max_files=pm.max_files_per_tick,
        judge=partial(judge_fleet_file, fleet=fleet, default=pm.export_format),
        last_looks=looks_in_cursor(context.cursor),
    )
    fresh, reruns = [], []
    scorable = [d for d in decisions if d.action == "score"]
    earlier_runs = _RunsOfBytes(context.instance, scorable)
    for decision in scorable:
        step = _next_step(context, decision, pm, earlier_runs.newest(decision))
        if step == "new":
            fresh.append(decision)
        elif step is not None:
            reruns.append(_run_request([decision], *step, settings=pm, ahead=ahead))
    batches = fleet_batches(fresh, pm.files_per_run, pm.scoring_lanes)
    requests = [_run_request(batch, None, None, settings=pm, ahead=ahead) for _, batch in batches]
    quarantined = []
    for bad in (d for d in decisions if d.action == "quarantine"):
        try:
            moved = quarantine_file(bad.path, bad.reason)
        except PipelineError as gone:
            # A run archived it while this tick judged it: nothing is wrong with the file.
            context.log.info(str(gone))
            continue
        context.log.warning(f"quarantined {bad.path.name} → {moved}: {bad.reason}")
        quarantined.append(f"{bad.path.name}: {bad.reason}")
    waiting = [d.path.name for d in decisions if d.action == "wait"]
    if waiting:
        context.log.info(f"waiting for {len(waiting)} file(s) still being written: {waiting}")
    robots = _robots_to_register(context, fleet, fresh)
    # The tick's line in the UI: a skip reason when no run starts, else its log.
    seen = quarantine_summary(quarantined)
    if seen and (requests or reruns):
        context.log.warning(seen)
    return dg.SensorResult(
        run_requests=[*reruns, *requests],
        skip_reason=seen if seen and not (requests or reruns) else None,
        # Robots only: days are a time window, and files are never partitions.
        dynamic_partitions_requests=(
            [robots_partitions.build_add_request(robots)] if robots else []
        ),
        # The cursor is only a small summary for the UI; run keys carry exactly-once.
        cursor=json.dumps(
            {
                "last_tick": time.time(),
                "requested": len(fresh) + len(reruns),
                "runs": len(requests) + len(reruns),
                "waiting": len(waiting),
                # Each file's size and mtime: a file is ready once two looks agree.
                "looks": looks_of(landed),
            }
        ),
    )


def quarantine_summary(quarantined: list[str]) -> str | None:
    """``quarantined N: <file: reason>; …`` for a tick that quarantined files, else None;
    `pm-pipeline quarantine` lists them all with the time and robot."""
    if not quarantined:
        return None
    return f"quarantined {len(quarantined)}: " + "; ".join(quarantined)[:1000]


RUNS_PER_LANE = 2
"""Runs of a lane in flight at most: one scoring and the next one starting (dagster.yaml)."""


def _runs_in_flight(context: dg.SensorEvaluationContext) -> Sequence[dg.DagsterRun]:
    """The runs of landed files that have not ended."""
    return context.instance.get_runs(
        filters=dg.RunsFilter(job_name=LANDED_FILES_JOB, statuses=IN_FLIGHT)
    )


def _paths_of(runs: Sequence[dg.DagsterRun]) -> set[Path]:
    """The files of ``runs``, as their config names them."""
    return {Path(landed["path"]) for run in runs for landed in landed_files_in(run.run_config)}


def _lanes_waiting(runs: Sequence[dg.DagsterRun]) -> set[str]:
    """The lanes whose next run is already in flight behind the one scoring (a rerun of one
    crashed file counts too: it holds its lane as any run does)."""
    per_lane = Counter(run.tags.get(SCORING_LANE_TAG) for run in runs)
    return {lane for lane, count in per_lane.items() if lane and count >= RUNS_PER_LANE}


def _robots_to_register(
    context: dg.SensorEvaluationContext, fleet: Fleet, scored: list[LandingDecision]
) -> list[str]:
    """The robots file's robots, and those whose files are about to score, that are not yet
    partitions: a robot added to the file shows in the UI at the next tick."""
    registered = set(context.instance.get_dynamic_partitions(ROBOTS))
    wanted = dict.fromkeys([*fleet.robot_ids, *(d.robot_id for d in scored)])
    return [robot for robot in wanted if robot not in registered]


def _next_step(
    context: dg.SensorEvaluationContext,
    decision: LandingDecision,
    settings: Settings,
    record: dg.RunRecord | None,
) -> str | tuple[str, str] | None:
    """``"new"`` for bytes no run has taken yet (``record``, the newest run that took them,
    is None), ``(rerun_key, crashed_run_id)`` for bytes whose run crashed and Dagster's
    promised retry never started; None otherwise (a scored duplicate is archived).

    The daemon would skip a repeated run key anyway; this keeps the drop folder clean.
    """
    if record is None:
        return "new"
    earlier = _earlier(record)
    step = after_earlier_run(earlier, settings.retry_grace_seconds)
    if step == "rerun":
        # One rerun per crashed run: its run key names the run it replaces.
        rerun_key = f"{decision.run_key}:rerun-{earlier.run_id[:8]}"
        rerun = _run_with_key(context, rerun_key)
        if rerun is None:
            context.log.warning(
                f"{decision.path.name}: run {earlier.run_id} crashed and Dagster's retry did "
                "not start; scoring the file again."
            )
            return rerun_key, earlier.run_id
        earlier = _earlier(rerun)
        step = after_earlier_run(earlier, grace_s=float("inf"))
    if step == "archive" and decision.path.exists():
        try:
            moved = archive_file(decision.path, decision.sha256)
        except ChangedAfterScoring as changed:
            context.log.warning(str(changed))
            return None
        context.log.info(f"{decision.path.name} was already scored; archived as {moved.name}")
    elif step == "wait" and earlier.will_retry:
        context.log.info(f"{decision.path.name}: run {earlier.run_id} failed; Dagster retries it.")
    elif step == "failed":
        context.log.warning(
            f"{decision.path.name}: run {earlier.run_id} for these bytes failed; "
            "re-execute it from the UI once the cause is fixed."
        )
    return None


class _RunsOfBytes:
    """The newest run that took each of a tick's files' bytes: alone (its run key) or with
    others (its content tag). A tick of a fleet's files asks for all of them at once: one
    query for their run keys and one for which of their content tags any run carries, then
    one for each file whose tag a run does carry (bytes landed again), rather than two
    queries per file."""

    def __init__(self, instance: dg.DagsterInstance, decisions: Sequence[LandingDecision]) -> None:
        self.instance = instance
        self._by_run_key: dict[str, dg.RunRecord] = {}
        self._tagged: set[tuple[str, str]] = set()
        if not decisions:
            return
        keyed = instance.get_run_records(
            dg.RunsFilter(tags={RUN_KEY_TAG: [d.run_key for d in decisions]})
        )
        for record in keyed:
            key = record.dagster_run.tags.get(RUN_KEY_TAG, "")
            known = self._by_run_key.get(key)
            if known is None or record.storage_id > known.storage_id:
                self._by_run_key[key] = record
        tag_keys = list(dict.fromkeys(d.content_tag[0] for d in decisions))
        for key, values in instance.get_run_tags(tag_keys=tag_keys):
            self._tagged.update((key, value) for value in values)

    def newest(self, decision: LandingDecision) -> dg.RunRecord | None:
        tag, value = decision.content_tag
        with_tag = (
            _first(self.instance.get_run_records(dg.RunsFilter(tags={tag: value}), limit=1))
            if (tag, value) in self._tagged
            else None
        )
        records = [
            record
            for record in (self._by_run_key.get(decision.run_key), with_tag)
            if record is not None
        ]
        return max(records, key=lambda record: record.create_timestamp, default=None)


def _run_with_key(context: dg.SensorEvaluationContext, run_key: str) -> dg.RunRecord | None:
    return _first(
        context.instance.get_run_records(
            filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1
        )
    )


def _first(records: Sequence[dg.RunRecord]) -> dg.RunRecord | None:
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


def _files_per_lane(runs: Sequence[dg.DagsterRun]) -> Counter[str]:
    """How many files the runs in flight of each lane score: a lane's next run waits for
    them before it scores."""
    files: Counter[str] = Counter()
    for run in runs:
        lane = run.tags.get(SCORING_LANE_TAG)
        if lane is not None:
            files[lane] += len(landed_files_in(run.run_config))
    return files


def _run_request(
    batch: list[LandingDecision],
    rerun_key: str | None,
    rerun_of: str | None,
    settings: Settings,
    ahead: Counter[str],
) -> dg.RunRequest:
    """One run for a batch of files of one lane, of one robot or many; ``ahead`` counts
    each lane's files in runs already in flight, which this one may wait for."""
    robots = list(dict.fromkeys(decision.robot_id for decision in batch))
    lane = scoring_lane(robots[0], settings.scoring_lanes)
    files = [{"robot": d.robot_id, "file": d.file_key, "path": str(d.path)} for d in batch]
    return dg.RunRequest(
        run_key=rerun_key or batch_run_key(batch),
        run_config={"ops": {"score_landed_files": {"config": {"files": files, "archive": True}}}},
        tags={
            **dict(decision.content_tag for decision in batch),
            SCORING_LANE_TAG: lane,
            # Not settings/robot: that tag queues a run behind the robot's retraining, and a run
            # held back would let the next run of landed files overtake it.
            ROBOTS_TAG: ",".join(robots),
            **({"settings/file_sha256": batch[0].sha256} if len(batch) == 1 else {}),
            # With run monitoring on, a run still STARTED after this long is failed, and then
            # retried: the way a run whose worker died along with the daemon gets scored.
            # The run may wait for the lane's runs in flight before it scores its own files.
            MAX_RUNTIME_TAG: str(settings.scoring_max_runtime_seconds * (len(batch) + ahead[lane])),
            **({RERUN_OF_TAG: rerun_of} if rerun_of else {}),
        },
    )


views_automation_sensor = dg.AutomationConditionSensorDefinition(
    "views_automation_sensor",
    target=dg.AssetSelection.assets("events_summary", "open_events", "fleet_health"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    # One refresh at a time, behind the scoring runs waiting in the queue: a view that follows
    # the events can wait, the events cannot (see "Throughput" in docs/fleet.md).
    run_tags={VIEWS_TAG: "refresh", PRIORITY_TAG: str(VIEWS_PRIORITY)},
    description="Refreshes events_summary and open_events once a landed file's events "
    "are stored (within 30 s), and fleet_health when events, readings, labels or models "
    "change.",
)


@dg.sensor(
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Delivers queued event notifications to PM_ALERT_WEBHOOK_URL and by e-mail "
    "(PM_SMTP_HOST), retrying failed ones with backoff; idle when neither is set.",
)
def notification_sensor(
    context: dg.SensorEvaluationContext,
    readings_db: ReadingsDatabaseResource,
    settings: SettingsResource,
) -> dg.SkipReason:
    pm = settings.loaded
    channels = channels_from(pm)
    if not channels:
        return dg.SkipReason("no PM_ALERT_WEBHOOK_URL or PM_SMTP_HOST set: nothing to send")
    report = deliver_due(readings_db.engine(), channels, pm.alert_retry_base_seconds)
    for error in report.errors:
        context.log.warning(error)  # masked: no webhook token, no SMTP password
    summary = f"{report.delivered} notification(s) delivered, {report.failed} failed"
    if report.delivered:
        context.log.info(summary)
    return dg.SkipReason(summary)
