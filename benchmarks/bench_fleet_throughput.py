"""A fleet landing files round after round: the real daemon against the one-process floor.

Run by hand (not a test; it needs the local Postgres server):

    .venv/bin/python benchmarks/bench_fleet_throughput.py [--robots 100] [--rounds 12]
        [--rows 150] [--lanes 1,2] [--celery 2,3] [--celery-lanes 2] [--pacing taken,seen]

Each of ``--robots`` robots (an open fleet: one folder each in the drop folder) gets its own
trained, active model, fitted on two hours of its own simulated readings, and ``--rounds``
exports of ``--rows`` readings that continue them: a plant whose robots export every five
minutes. A round is one file per robot (each written aside and renamed in); the next round
lands as soon as the pipeline has taken the one before (see ``--pacing``), so files come
as fast as the pipeline takes them (the sensor takes a lane's files only while the lane has
no run waiting behind the one scoring, which bounds the backlog). Reported: files per second
sustained (first landing to last events), each file's latency from landing to its
``file_events`` materialization (p50, p95), the backlog (landed, not yet scored) over time,
each run's queued / launched / started / ended times, and the CPU seconds of the daemon, its
code servers and their run workers, under `dagster-daemon run` with the repo's dagster.yaml
on Postgres. Other jobs on the host slow both sides: the floor is taken before and after the
designs, the ratios are to their mean, and the load average is printed with each.

``--pacing`` says when the next round lands: ``taken``, once the sensor has taken every file
of the round before into runs (rounds in bursts: a file is taken at the second sensor look
that finds it unchanged, and dagster-daemon looks every 5 s, so a round needs two looks and
100 robots cannot go faster than 10 files/s); ``seen``, once the sensor has looked at every
file of the round before (its cursor holds their looks), so a round is confirmed while the
next one is first looked at, as files landing steadily are (a 3,000-robot plant exporting
every 5 minutes lands 10 files every second, not 100 every 10). Either way at most two
rounds wait to be taken. Each design runs under each pacing listed.

``--lanes`` lists the designs run one after the other, each on fresh databases: ``1`` is one
lane for the whole fleet (one run scoring at a time, as under the former global
``pm/scoring`` limit), ``2`` two lanes side by side (the default). The floor, in the
same invocation: the same files scored one after another in one process by the scoring use
case itself (ingest, detect, store events): the work without sensor ticks, run queue or run
start-up.

``--celery`` adds designs under dagster-celery's run launcher (``PM_RUN_LAUNCHER=celery``,
``--celery-lanes`` lanes): one Celery worker of that many pool processes, on the local
RabbitMQ and a queue of its own, runs every run in its long-lived pool processes, with the
task states in the design's Dagster database (``db+postgresql://``).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from dagster._core.scheduler.instigation import SensorInstigatorData
from kombu.connection import Connection

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.landing.plan import looks_in_cursor
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import generate_robot_readings, write_export
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.db.engine import normalise_url, open_engine
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.registry import (
    activate_model,
    active_model_version,
    load_model,
    register_model,
)
from pm_pipeline.db.schema import readings_table
from pm_pipeline.defs.jobs import LANDED_FILES_JOB, landed_files_in
from pm_pipeline.services.notifications import store_file_events
from pm_pipeline.services.scoring import ingest_and_detect
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.e2e.daemon_harness import (
    DaemonSite,
    process_tree,
    sensor_ticks,
)
from pm_pipeline_tests.store import upgraded

SERVER = os.environ.get("PM_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
HISTORY_HOURS = 2.0
CADENCE_S = 2.0
BROKER = "pyamqp://guest@127.0.0.1:5672//"


def main() -> int:
    parser = argparse.ArgumentParser(description="A fleet's rounds of files, daemon vs floor.")
    parser.add_argument("--robots", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--rows", type=int, default=150)
    parser.add_argument("--lanes", default="1,2", help="designs to run: lane counts, by comma")
    parser.add_argument(
        "--celery",
        default="",
        help="designs under the Celery run launcher: pool processes of its worker, by comma",
    )
    parser.add_argument("--celery-lanes", type=int, default=2, help="lanes of the Celery designs")
    parser.add_argument(
        "--pacing",
        default="taken,seen",
        help="when the next round lands, by comma: taken (bursts) or seen (steady)",
    )
    args = parser.parse_args()
    launchers = [(f"{n} lane(s)", n, 0) for n in _counts(args.lanes)]
    launchers += [
        (f"celery, {args.celery_lanes} lanes, {n} pool", args.celery_lanes, n)
        for n in _counts(args.celery)
    ]
    pacings = [p.strip() for p in args.pacing.split(",") if p.strip()]
    if not set(pacings) <= set(PACINGS):
        parser.error(f"--pacing: {args.pacing!r}; write taken, seen or taken,seen")
    designs = [
        (f"{name}, {pacing}", lanes, pool, pacing)
        for name, lanes, pool in launchers
        for pacing in pacings
    ]
    robots = [f"robot-{n:03d}" for n in range(1, args.robots + 1)]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        files = write_fleet(root / "staged", robots, args.rounds, args.rows)
        print(f"{len(files)} files of {args.rows} readings from {len(robots)} robots", flush=True)
        floors = [measure_floor(robots, files, "before")]
        results = {}
        for number, (design, lanes, pool, pacing) in enumerate(designs):
            with scratch_databases(2) as (readings_url, dagster_url):
                site = DaemonSite(root / f"site-{number}", readings_url, dagster_pg_url=dagster_url)
                site.settings = {"PM_SCORING_LANES": str(lanes)}
                if pool:
                    site.settings |= celery_run_settings(dagster_url)
                os.environ["DAGSTER_PG_URL"] = dagster_url  # this process reads the runs back
                site.prepare()
                prepare_robots(readings_url, robots)
                staged = [
                    (robot, copy_of(path, root / f"staged-{number}")) for robot, path in files
                ]
                if pool:
                    start_run_worker(site, pool)
                results[design] = time_daemon(site, staged, len(robots), PACINGS[pacing])
                if pool:
                    delete_queue(site.settings["PM_CELERY_QUEUE"])
                report(design, len(files), floors[0], results[design])
        floors.append(measure_floor(robots, files, "after"))
    # Other engineers' jobs share the cores: the floor is taken before and after the designs,
    # and the ratios are to their mean.
    summary(len(files), statistics.mean(floors), floors, results)
    return 0


def _counts(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n.strip()]


def celery_run_settings(dagster_url: str) -> dict[str, str]:
    """The Celery run launcher on the local RabbitMQ, a queue of this design's own, and the
    task states beside Dagster's storage."""
    return {
        "PM_RUN_LAUNCHER": "celery",
        "PM_CELERY_BROKER_URL": BROKER,
        "PM_CELERY_BACKEND_URL": f"db+{normalise_url(dagster_url)}",
        "PM_CELERY_QUEUE": f"pm-bench-{uuid.uuid4().hex[:8]}",
    }


def start_run_worker(site: DaemonSite, pool: int) -> None:
    """One Celery run worker of ``pool`` processes, as docs/fleet.md says to start it; ready
    before the daemon starts (its pool processes import the code location at their first
    run, as a worker's would after a deployment)."""
    site.start_celery_worker("celery_runs.yaml", f"bench-{pool}", site.env, f"--concurrency={pool}")


def delete_queue(queue: str) -> None:
    """The design's queue, left on the shared broker else."""
    with Connection(BROKER) as broker:
        broker.default_channel.queue_delete(queue)


def measure_floor(robots: list[str], files: list[tuple[str, Path]], when: str) -> float:
    with scratch_databases(1) as (floor_url,):
        prepare_robots(upgraded(floor_url), robots)
        load = os.getloadavg()[0]
        floor_s = time_floor(floor_url, files)
    print(
        f"floor ({when}): {floor_s:.1f} s ({len(files) / floor_s:.1f} files/s), load average "
        f"{load:.1f} → {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return floor_s


def copy_of(path: Path, folder: Path) -> Path:
    """A copy of a staged file for one design's run (landing moves it away)."""
    target = folder / path.parent.name / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, target)
    return target


class scratch_databases:
    """``count`` fresh databases on the local server, dropped afterwards."""

    def __init__(self, count: int) -> None:
        self.names = [f"pm_bench_{uuid.uuid4().hex[:8]}" for _ in range(count)]
        # Held for the whole benchmark (an hour for the soak): a dropped connection is replaced.
        self.admin = sa.create_engine(
            normalise_url(SERVER), isolation_level="AUTOCOMMIT", pool_pre_ping=True
        )

    def __enter__(self) -> list[str]:
        with self.admin.connect() as connection:
            for name in self.names:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        base = sa.make_url(SERVER)
        return [
            base.set(database=name).render_as_string(hide_password=False) for name in self.names
        ]

    def __exit__(self, *_: object) -> None:
        with self.admin.connect() as connection:
            for name in self.names:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def write_fleet(folder: Path, robots: list[str], files: int, rows: int) -> list[tuple[str, Path]]:
    """Each robot's exports, named after the robot as controllers name them, written under
    ``folder/<robot>/``; round by round (each round one file per robot)."""
    written = []
    for number, robot in enumerate(robots):
        readings = robot_readings(number, files * rows)
        exports = readings.iloc[-files * rows :]
        (folder / robot).mkdir(parents=True, exist_ok=True)
        for part in range(files):
            path = folder / robot / f"{robot}_part{part + 1:02d}.csv"
            write_export(exports.iloc[part * rows : (part + 1) * rows], path)
            written.append((part, robot, path))
    return [(robot, path) for _, robot, path in sorted(written)]


def robot_readings(number: int, export_rows: int) -> pd.DataFrame:
    """Two hours of history and then ``export_rows`` readings; each robot its own currents."""
    hours = HISTORY_HOURS + export_rows * CADENCE_S / 3600 + 0.1
    readings = generate_robot_readings(hours, pd.Timestamp("2026-11-02T06:00:00Z"), seed=number)
    factor = 1.0 + 0.02 * number
    axes = [column for column in readings.columns if column.startswith("axis_")]
    readings[axes] = readings[axes] * factor
    return readings


def prepare_robots(url: str, robots: list[str]) -> None:
    """Each robot's history stored and its own model trained and made active."""
    engine = open_engine(url)
    table = readings_table()
    settings = settings_for_mode("robust")
    for number, robot in enumerate(robots):
        readings = robot_readings(number, 0)
        history = readings[
            readings[TIME_COLUMN]
            < readings[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=HISTORY_HOURS)
        ]
        ingest_readings(engine, table, history, robot, f"{robot}-history", f"{robot}-history")
        model = fit_model(history, fit_minmax_scaling(history), settings)
        register_model(engine, model, robot, None, {})
        activate_model(engine, model.version, robot, "benchmark")
    engine.dispose()


def time_floor(url: str, files: list[tuple[str, Path]]) -> float:
    """The files scored one after another in this process by the scoring use case."""
    engine = open_engine(url)
    table, settings = readings_table(), load_settings()
    models = {robot: load_model(engine, active_model_version(engine, robot)) for robot, _ in files}
    started = time.perf_counter()
    for robot, path in files:
        model = models[robot]
        scored = ingest_and_detect(
            engine, table, robot, path, file_sha256(path), model, ExportFormat()
        )
        store_file_events(engine, robot, path.name, scored, model.version, None, settings)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


@dataclass
class DaemonResult:
    seconds: float
    latencies: list[float]
    runs: int
    backlog: list[tuple[float, int]]
    loads: list[float]
    """The 1-minute load average, sampled with the backlog."""


def ready_to_land(site: DaemonSite, files: list[tuple[str, Path]]) -> None:
    """Wait for the started daemon's first sensor tick; make each robot's drop folder."""
    wait_for(lambda: sensor_ticks(site) > 0, 180, "the sensor's first tick", site.daemon_log)
    for robot in {robot for robot, _ in files}:
        (site.drop / robot).mkdir(parents=True, exist_ok=True)


def taken(instance: dg.DagsterInstance) -> set[str]:
    """The paths of the files that runs of landed files have taken."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=LANDED_FILES_JOB))
    return {landed["path"] for run in runs for landed in landed_files_in(run.run_config)}


def seen(instance: dg.DagsterInstance) -> set[str]:
    """The paths the landed-file sensor has looked at (its cursor keeps its last look at
    each file still in the folder), and those already taken into runs."""
    looked: set[str] = set()
    for state in instance.all_instigator_state():
        data = state.instigator_data
        if state.name == "landed_file_sensor" and isinstance(data, SensorInstigatorData):
            looked |= set(looks_in_cursor(data.cursor))
    return looked | taken(instance)


PACINGS = {"taken": taken, "seen": seen}
ROUNDS_WAITING = 2
"""Rounds landed and not yet taken into runs, at most: the backlog stays bounded."""


def time_daemon(
    site: DaemonSite,
    files: list[tuple[str, Path]],
    per_round: int,
    ready_for_next: Callable[[dg.DagsterInstance], set[str]] = taken,
) -> DaemonResult:
    """Land the files round by round, each once ``ready_for_next`` holds every file of the
    one before; seconds from the first landing until the last file's events are stored,
    each file's latency, the runs, and the backlog over time."""
    site.start_daemon()
    landed_at: dict[tuple[str, str], float] = {}
    backlog: list[tuple[float, int]] = []
    loads: list[float] = []
    waiting: list[set[str]] = []
    try:
        ready_to_land(site, files)
        started = time.time()
        with dg.DagsterInstance.from_config(str(site.home)) as instance:
            for first in range(0, len(files), per_round):
                this_round = files[first : first + per_round]
                for robot, path in this_round:
                    path.replace(site.drop / robot / path.name)
                    landed_at[(robot, path.name)] = time.time()
                names = {str(site.drop / robot / path.name) for robot, path in this_round}
                waiting.append(names)
                while not names <= ready_for_next(instance) or (
                    len(waiting) >= ROUNDS_WAITING and not waiting[0] <= taken(instance)
                ):
                    backlog.append((time.time() - started, len(landed_at) - archived_count(site)))
                    loads.append(os.getloadavg()[0])
                    time.sleep(0.5)
                while waiting and waiting[0] <= taken(instance):
                    waiting.pop(0)
            while archived_count(site) < len(files):
                backlog.append((time.time() - started, len(landed_at) - archived_count(site)))
                loads.append(os.getloadavg()[0])
                if time.time() - started > 3600:
                    raise TimeoutError(f"{archived_count(site)} of {len(files)} files scored")
                time.sleep(2)
            wait_for(lambda: settled(instance), 120, "the runs to end", site.daemon_log)
            latencies, last = file_latencies(instance, landed_at)
            runs = len(instance.get_runs(filters=dg.RunsFilter(job_name=LANDED_FILES_JOB)))
            print_timeline(instance, started)
            print_cpu(site)
    finally:
        site.stop_all()
    return DaemonResult(last - started, latencies, runs, backlog, loads)


def file_latencies(
    instance: dg.DagsterInstance, landed_at: dict[tuple[str, str], float]
) -> tuple[list[float], float]:
    """Each file's seconds from landing to its materialization, and the last one's time."""
    records = instance.fetch_materializations(dg.AssetKey("file_events"), limit=10_000).records
    stored: dict[tuple[str, str], float] = {}
    for record in records:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        robot = str(materialization.metadata["robot"].value)
        name = str(materialization.metadata["file_name"].value)
        stored[(robot, name)] = record.timestamp
    latencies = [stored[key] - at for key, at in landed_at.items() if key in stored]
    return latencies, max(stored.values())


def print_timeline(instance: dg.DagsterInstance, landed_at: float) -> None:
    """Each run since the landing: its job, files, and when it was queued, started and ended,
    in seconds from the landing, so docs/benchmarks.md can say where the time goes."""
    print(
        f"{'run':<10}{'job':<18}{'files':>6}{'queued':>8}{'launched':>9}{'started':>8}{'ended':>8}"
    )
    for record in list(reversed(instance.get_run_records()))[:60]:
        run, stats = record.dagster_run, instance.get_run_stats(record.dagster_run.run_id)
        launched = [
            entry.timestamp
            for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_STARTING)
        ]
        at = [
            f"{moment - landed_at:8.1f}" if moment else f"{'-':>8}"
            for moment in (
                record.create_timestamp.timestamp(),
                launched[0] if launched else None,
                stats.start_time,
                stats.end_time,
            )
        ]
        count = len(landed_files_in(run.run_config)) or "-"
        print(f"{run.run_id[:8]:<10}{run.job_name[:17]:<18}{count!s:>6}{''.join(at)}")
    for state in instance.all_instigator_state():
        if state.name != "landed_file_sensor":
            continue
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=20)
        spans = [
            f"{t.timestamp - landed_at:.1f}..{(t.end_timestamp or t.timestamp) - landed_at:.1f}"
            f" ({len(t.run_ids)} runs)"
            for t in reversed(ticks)
            if (t.end_timestamp or t.timestamp) > landed_at - 10
        ]
        print("landed_file_sensor ticks:", ", ".join(spans))


def print_cpu(site: DaemonSite) -> None:
    """CPU seconds of the daemon and each process under it since they started: their own,
    and their ended children's (a code server's are its run workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    for process in site.processes:
        for pid in process_tree(process.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            own = (int(fields[11]) + int(fields[12])) / tick
            children = (int(fields[13]) + int(fields[14])) / tick
            name = " ".join(part.rsplit("/", 1)[-1] for part in command.split()[:6])
            print(f"  cpu {own:7.1f} s own, {children:7.1f} s ended children: {name[:90]}")


def archived_count(site: DaemonSite) -> int:
    return len(list(site.drop.glob("*/archive/*.csv")))


def settled(instance: dg.DagsterInstance) -> bool:
    busy = instance.get_runs(
        filters=dg.RunsFilter(
            job_name=LANDED_FILES_JOB,
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        )
    )
    return not busy


def report(design: str, files: int, floor_s: float, result: DaemonResult) -> None:
    ordered = sorted(result.latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)] if ordered else float("nan")
    print(f"\n{design}: {files} files; {result.runs} scoring runs; {len(ordered)} materializations")
    print(
        f"  load average during the run: mean {statistics.mean(result.loads):.1f}, "
        f"max {max(result.loads):.1f}"
    )
    print(f"  files/s sustained {files / result.seconds:.2f} (floor {files / floor_s:.2f})")
    print(
        f"  daemon {result.seconds:.1f} s, floor {floor_s:.1f} s, "
        f"ratio {result.seconds / floor_s:.1f}"
    )
    print(
        f"  latency p50 {statistics.median(ordered):.1f} s, p95 {p95:.1f} s, "
        f"max {ordered[-1]:.1f} s"
    )
    samples = result.backlog[:: max(1, len(result.backlog) // 15)]
    print("  backlog (s: files waiting): " + ", ".join(f"{t:.0f}: {n}" for t, n in samples))


def summary(
    files: int, floor_s: float, floors: list[float], results: dict[str, DaemonResult]
) -> None:
    each = ", ".join(f"{files / seconds:.2f}" for seconds in floors)
    print(f"\nfloor before, after: {each} files/s; ratios below are to their mean")
    print(
        f"{'design':<34}{'files/s':>8}{'× floor':>8}{'p50 s':>7}{'p95 s':>7}{'max backlog':>12}"
        f"{'load':>6}"
    )
    print(
        f"{'floor: one process':<34}{files / floor_s:>8.2f}{1.0:>8.1f}{'-':>7}{'-':>7}{'-':>12}"
        f"{'-':>6}"
    )
    for name, result in results.items():
        ordered = sorted(result.latencies)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        peak = max((n for _, n in result.backlog), default=0)
        print(
            f"{name:<34}{files / result.seconds:>8.2f}{result.seconds / floor_s:>8.1f}"
            f"{statistics.median(ordered):>7.1f}{p95:>7.1f}{peak:>12}"
            f"{statistics.mean(result.loads):>6.1f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
