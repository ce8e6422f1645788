"""Scoring: events of each landed controller export, one materialization of its robot-day.

One path scores files: ``landed_files_job``, whose runs the sensor requests (a lane's files of
several robots, each robot's in landing order) and which ``pm-pipeline score`` runs in-process
for one file. ``file_events`` is the asset those runs materialize, partitioned by robot × day;
each scored file is reported once, by :func:`_report`, as a materialization of the day it
landed on (its name, hash, events and checks in the metadata) and two check verdicts.
"""

import time
import warnings
from dataclasses import dataclass

import dagster as dg

from pm_pipeline.config.robots import Fleet, load_fleet
from pm_pipeline.config.settings import Settings
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.db.events import open_events as still_open
from pm_pipeline.db.events import robot_events
from pm_pipeline.defs.assets.training import THRESHOLD_KEYS
from pm_pipeline.defs.event_metadata import (
    EVENT_TABLE_SCHEMA,
    RunLineage,
    describe_changes,
    event_changes_table,
    event_check_results,
    event_check_specs,
    event_table,
    not_scored_check_results,
)
from pm_pipeline.defs.metadata import readings_span_metadata
from pm_pipeline.defs.partitions import (
    SAME_ROBOT,
    landing_day,
    robot_day_key,
    robot_days_partitions,
    split_robot_day_key,
)
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.services.landed_file import (
    LandedFileResult,
    NotScored,
    RunModels,
    ScoringRun,
    ScoringStopped,
    score_landed_file,
)

SCORED_ROWS_LOG = "{rows} readings scored so far"
"""A debug line after each streamed piece: the run's progress, which `pm-pipeline score` shows."""
FILE_NAME_METADATA = "file_name"
"""The scored file's key: its name, the ``source`` of its events."""

file_events = dg.AssetSpec(
    "file_events",
    group_name="scoring",
    partitions_def=robot_days_partitions,
    deps=[dg.AssetDep(key, partition_mapping=SAME_ROBOT) for key in THRESHOLD_KEYS.values()],
    description="ALERT/ERROR events of a robot's controller exports, a materialization per "
    "landed file in the partition of the day it landed; landed_files_job scores them.",
)
FILE_EVENT_CHECKS = event_check_specs(file_events.key.to_user_string(), robot_days_partitions)


class LandedFile(dg.Config):
    """One file to score: its robot, its name (the events' source), and where it lies now."""

    robot: str
    file: str
    path: str


class LandedFilesConfig(dg.Config):
    """The files of one run of ``landed_files_job``, in the order they score; whether to move
    them to archive/ afterwards (the sensor does; `pm-pipeline score` leaves your file where it
    is), and with which model version (default: each robot's active one)."""

    files: list[LandedFile]
    archive: bool = True
    model_version: str | None = None


SCORING_LANE_TAG = "pm/scoring_lane"
"""A run of landed files's lane (see pm_pipeline.core.landing.batches). The run queue lets two
runs of a lane go at a time (dagster.yaml), and a run scores once the lane's earlier runs have
ended: the next run's process starts while the one before scores."""
IN_FLIGHT = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
LANE_POLL_SECONDS = 0.5
SCORING_LOG = "scoring {files} file(s)"
"""Logged when a run's files begin to score (after the lane's earlier runs have ended)."""

# A database that drops mid-file is tried again with backoff; a bad file or setting is not.
SCORING_RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL)


@dg.op(
    retry_policy=SCORING_RETRY_POLICY,
    description="Scores landed files, of one robot or many, one after another; each file is "
    "a materialization of its robot-day's file_events partition.",
)
def score_landed_files(
    context: dg.OpExecutionContext,
    config: LandedFilesConfig,
    readings_db: ReadingsDatabaseResource,
    settings: SettingsResource,
) -> None:
    """``file_events`` of each listed file, reported as soon as its events are stored."""
    # A bad file among others must not hold back their events: it is quarantined, and its
    # partition shows why. Alone, it fails the run (see _FileScorer.batch).
    scorer = _FileScorer(
        context,
        readings_db,
        settings,
        [landed.robot for landed in config.files],
        config.archive,
        config.model_version,
    )
    _after_earlier_runs_of_lane(context)
    context.log.info(SCORING_LOG.format(files=len(config.files)))
    done = _files_reported_in_run(context) if context.retry_number else set()
    for landed in config.files:
        if (landed.robot, landed.file) in done:
            # An earlier attempt of this run stored this file's events before it failed.
            context.log.info(f"{landed.robot}/{landed.file}: stored by an earlier attempt")
            continue
        _report(context, scorer.score(landed.robot, landed.file, landed.path))


def _after_earlier_runs_of_lane(context: dg.OpExecutionContext) -> None:
    """Wait until every run of this run's lane submitted before it has ended, so a robot's
    files score in landing order though the lane's next run starts its process early (a run
    without a lane, `pm-pipeline score`'s, goes at once)."""
    lane = context.run.tags.get(SCORING_LANE_TAG)
    mine = context.instance.get_run_record_by_id(context.run_id)
    if lane is None or mine is None:
        return
    told = False
    while True:
        # Submission order is the runs table's order (timestamps of one second may tie).
        earlier = [
            record.dagster_run.run_id
            for record in context.instance.get_run_records(
                dg.RunsFilter(
                    job_name=context.job_name, tags={SCORING_LANE_TAG: lane}, statuses=IN_FLIGHT
                )
            )
            if record.storage_id < mine.storage_id
        ]
        if not earlier:
            return
        if not told:
            context.log.info(f"{lane}: scoring after the lane's earlier run(s) {earlier}")
            told = True
        time.sleep(LANE_POLL_SECONDS)


def _report(context: dg.OpExecutionContext, outcome: "_FileOutcome") -> None:
    """The one place a scored file reaches Dagster: a materialization of its robot-day and
    its two check verdicts on that partition."""
    context.log_event(
        dg.AssetMaterialization(
            asset_key=file_events.key,
            partition=outcome.partition_key,
            metadata=outcome.metadata,
            tags=outcome.provenance,
            description=outcome.summary,
        )
    )
    for check in outcome.checks:
        # log_event takes check evaluations (it dispatches on them), though its type alias
        # lists only materializations, observations and expectations.
        context.log_event(_evaluation(check, outcome.partition_key))  # pyright: ignore[reportArgumentType]


def _files_reported_in_run(context: dg.OpExecutionContext) -> set[tuple[str, str]]:
    """(robot, file) of each file this run has already reported (before a retry)."""
    reported = set()
    logs = context.instance.all_logs(
        context.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    )
    for entry in logs:
        materialization = entry.asset_materialization
        if materialization is None or FILE_NAME_METADATA not in materialization.metadata:
            continue
        robot, _ = split_robot_day_key(str(materialization.partition))
        reported.add((robot, str(materialization.metadata[FILE_NAME_METADATA].value)))
    return reported


with warnings.catch_warnings():
    # Per-partition checks are a Dagster preview (see event_check_specs).
    warnings.simplefilter("ignore", dg.PreviewWarning)

    @dg.multi_asset_check(
        specs=FILE_EVENT_CHECKS,
        description="Each file's verdicts are reported when it scores; run from the UI, the "
        "checks judge a robot-day again from its files' stored events and the robot's open "
        "ones (after labels or later files resolved events).",
    )
    def file_event_checks(
        context: dg.AssetCheckExecutionContext, readings_db: ReadingsDatabaseResource
    ):
        """The verdicts of one robot-day: its files' events together."""
        robot, _ = split_robot_day_key(context.partition_key)
        engine = readings_db.engine()
        day_filter = dg.AssetRecordsFilter(
            asset_key=file_events.key, asset_partitions=[context.partition_key]
        )
        records = context.instance.fetch_materializations(day_filter, limit=10_000).records
        names = {
            str(m.metadata[FILE_NAME_METADATA].value)
            for m in (record.asset_materialization for record in records)
            if m is not None and FILE_NAME_METADATA in m.metadata
        }
        events = robot_events(engine, robot)
        of_day = events[events["source"].isin(names)]
        yield from event_check_results(of_day, still_open(events))


@dataclass(frozen=True)
class _FileOutcome:
    partition_key: str
    metadata: dict
    checks: list[dg.AssetCheckResult]
    provenance: dict[str, str]
    summary: str


class _FileScorer:
    """Scores the files of one run, one after another, through
    :func:`~pm_pipeline.services.landed_file.score_landed_file`, and turns each result into
    what Dagster shows of it."""

    def __init__(
        self,
        context: dg.OpExecutionContext,
        readings_db: ReadingsDatabaseResource,
        settings: SettingsResource,
        robots: list[str],
        archive: bool,
        model_version: str | None = None,
    ) -> None:
        self.context, self.batch = context, len(robots) > 1
        self.settings, fleet = _settings_and_fleet(settings)
        self.run = ScoringRun(
            readings_db.table(),
            self.settings,
            fleet,
            RunModels(readings_db.engine, model_version),
            file_away=archive,
            run_id=context.run_id,
        )
        self._lineage = RunLineage(context.instance, robots, self.settings.dagster_ui_url)

    def _progress(self, rows: int) -> None:
        # Each stored event costs a write to Dagster's event log: a batch's files each log one
        # line when scored, and only a lone file (`pm-pipeline score`'s bar) logs its pieces.
        if not self.batch:
            self.context.log.debug(SCORED_ROWS_LOG.format(rows=rows))

    def score(self, robot_id: str, file_key: str, given_path: str) -> _FileOutcome:
        try:
            result = score_landed_file(self.run, robot_id, file_key, given_path, self._progress)
        except ScoringStopped as stopped:
            raise dg.Failure(description=str(stopped), allow_retries=False) from stopped
        partition_key = str(robot_day_key(robot_id, landing_day(result.landed_at)))
        if isinstance(result, NotScored):
            return self._not_scored(partition_key, result)
        return self._scored(partition_key, result)

    def _not_scored(self, partition_key: str, bad: NotScored) -> _FileOutcome:
        if not self.batch:
            raise dg.Failure(description=bad.description, allow_retries=False)
        # One bad file of a batch must not hold back the others' events.
        self.context.log.warning(bad.description)
        return _FileOutcome(
            partition_key,
            {
                "robot": bad.robot_id,
                FILE_NAME_METADATA: bad.file_key,
                "outcome": bad.description,
                "file": str(bad.moved),
            },
            not_scored_check_results(bad.description),
            {},
            f"{bad.robot_id}/{bad.file_key}: not scored",
        )

    def _scored(self, partition_key: str, scored: LandedFileResult) -> _FileOutcome:
        context, robot_id, version = self.context, scored.robot_id, scored.model_version
        name, ingested, written = scored.path.name, scored.ingest, scored.stored
        for note in scored.notes:
            context.log.warning(f"{robot_id}/{name}: {note}")
        if scored.archive_warning:
            context.log.warning(scored.archive_warning)
        how = "streamed" if scored.streamed else "read whole"
        summary = (
            f"{robot_id}/{name}: {ingested.rows_in_file} rows {how}, {written.events} events "
            f"with model {version}, {written.notifications} notification(s) queued; file at "
            f"{scored.archived}; {describe_changes(written.report)}"
        )
        if not self.batch:
            # A batch's file says this as its materialization's description: one write to
            # Dagster's event log fewer per file.
            context.log.info(summary)
        link = self._lineage.link(version)
        provenance = self._lineage.provenance(robot_id, version)
        severities = scored.events["severity"].value_counts()
        metadata = {
            **readings_span_metadata(
                ingested.rows_in_file, ingested.first_time, ingested.last_time
            ),
            # The asset is the file's events: its row count is theirs, not the readings'.
            "dagster/row_count": int(written.events),
            "dagster/column_schema": EVENT_TABLE_SCHEMA,
            "event_table": event_table(scored.events),
            "robot": robot_id,
            FILE_NAME_METADATA: scored.file_key,
            "readings_in_file": int(ingested.rows_in_file),
            "file": str(scored.archived),
            "file_sha256": scored.sha256,
            "model_version": version,
            "model_version_link": link,
            "streamed": scored.streamed,
            "rows_added": int(ingested.rows_added),
            "rows_already_present": int(ingested.rows_present),
            "events": int(written.events),
            "alerts": int(severities.get("ALERT", 0)),
            "errors": int(severities.get("ERROR", 0)),
            "notifications_queued": int(written.notifications),
            # Events of earlier files this one extended, escalated or resolved, too.
            "event_changes": event_changes_table(written.report),
            "events_changed": len(written.report),
            **({"export_notes": "\n".join(scored.notes)} if scored.notes else {}),
        }
        checks = event_check_results(scored.events, scored.robot_open_events)
        return _FileOutcome(partition_key, metadata, checks, provenance, summary)


def _settings_and_fleet(resource: SettingsResource) -> tuple[Settings, Fleet]:
    try:
        settings = resource.loaded
        return settings, load_fleet(settings)
    except PipelineError as error:
        # A bad setting: the files are not at fault, so they stay put.
        raise dg.Failure(description=str(error), allow_retries=False) from error


def _evaluation(check: dg.AssetCheckResult, partition_key: str) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=file_events.key,
        check_name=check.check_name or "",
        passed=check.passed,
        metadata=check.metadata,
        severity=check.severity,
        description=check.description,
        partition=partition_key,
    )
