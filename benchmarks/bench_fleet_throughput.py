"""A fleet's files at once: the real daemon against the one-process floor.

Run by hand (not a test; it needs the local Postgres server):

    .venv/bin/python benchmarks/bench_fleet_throughput.py [--robots 20] [--files 5] [--rows 2000]

Each of ``--robots`` robots (an open fleet: one folder each in the drop folder) gets its own
trained, active model, fitted on two hours of its own simulated readings, and ``--files``
exports of ``--rows`` readings that continue them. All files land at once (each written
aside and renamed in), and the benchmark reports when the last file's events are stored and
each file's latency from landing to its ``file_events`` materialization, under
`dagster-daemon run` with the repo's dagster.yaml on Postgres (run queue, one run at a time
per robot).

The floor, in the same invocation: the same files scored one after another in one process
by the scoring use case itself (ingest, detect, store events), on a database of their own:
the work without sensor ticks, run queue or run start-up.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.detection.registry import fit_model
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
from pm_pipeline_tests.e2e.daemon_harness import DaemonSite, sensor_ticks
from pm_pipeline_tests.store import upgraded

SERVER = os.environ.get("PM_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
HISTORY_HOURS = 2.0
CADENCE_S = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description="A fleet's files at once, daemon vs floor.")
    parser.add_argument("--robots", type=int, default=20)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    robots = [f"robot-{n:02d}" for n in range(1, args.robots + 1)]
    with tempfile.TemporaryDirectory() as folder, scratch_databases(3) as urls:
        floor_url, readings_url, dagster_url = urls
        root = Path(folder)
        files = write_fleet(root / "staged", robots, args.files, args.rows)
        print(f"{len(files)} files of {args.rows} readings from {len(robots)} robots", flush=True)
        prepare_robots(upgraded(floor_url), robots)
        floor_s = time_floor(floor_url, files)
        print(f"floor: {floor_s:.1f} s", flush=True)
        site = DaemonSite(root / "site", readings_url, dagster_pg_url=dagster_url)
        os.environ["DAGSTER_PG_URL"] = dagster_url  # this process reads the runs back
        site.prepare()
        prepare_robots(readings_url, robots)
        daemon_s, latencies, runs = time_daemon(site, files)
    report(len(files), floor_s, daemon_s, latencies, runs)
    return 0


class scratch_databases:
    """``count`` fresh databases on the local server, dropped afterwards."""

    def __init__(self, count: int) -> None:
        self.names = [f"pm_bench_{uuid.uuid4().hex[:8]}" for _ in range(count)]
        self.admin = sa.create_engine(normalise_url(SERVER), isolation_level="AUTOCOMMIT")

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
    """Each robot's history (kept in memory) and its exports, named after the robot as
    controllers name them, written under ``folder/<robot>/``."""
    written = []
    for number, robot in enumerate(robots):
        readings = robot_readings(number, files * rows)
        exports = readings.iloc[-files * rows :]
        (folder / robot).mkdir(parents=True, exist_ok=True)
        for part in range(files):
            path = folder / robot / f"{robot}_part{part + 1:02d}.csv"
            write_export(exports.iloc[part * rows : (part + 1) * rows], path)
            written.append((robot, path))
    return written


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


def time_daemon(site: DaemonSite, files: list[tuple[str, Path]]) -> tuple[float, list[float], int]:
    """Seconds until the last file's events are stored, each file's latency, and runs."""
    site.start_daemon()
    try:
        wait_for(lambda: sensor_ticks(site) > 0, 120, "the sensor's first tick", site.daemon_log)
        for robot in {robot for robot, _ in files}:
            (site.drop / robot).mkdir(parents=True, exist_ok=True)
        landed_at = time.time()
        for robot, path in files:
            path.replace(site.drop / robot / path.name)
        wait_for(
            lambda: archived_count(site) == len(files),
            1800,
            f"{len(files)} files to be scored",
            site.daemon_log,
        )
        done_s = time.time() - landed_at
        print(f"daemon: all {len(files)} files scored after {done_s:.1f} s", flush=True)
        with dg.DagsterInstance.from_config(str(site.home)) as instance:
            wait_for(lambda: settled(instance), 120, "the runs to end", site.daemon_log)
            records = instance.fetch_materializations(dg.AssetKey("file_events"), limit=10_000)
            latencies = [record.timestamp - landed_at for record in records.records]
            runs = len(instance.get_runs(filters=dg.RunsFilter(job_name=LANDED_FILES_JOB)))
            print_timeline(instance, landed_at)
    finally:
        site.stop_all()
    return done_s, latencies, runs


def print_timeline(instance: dg.DagsterInstance, landed_at: float) -> None:
    """Each run since the landing: its job, files, and when it was queued, started and ended,
    in seconds from the landing, so docs/benchmarks.md can say where the time goes."""
    print(f"{'run':<10}{'job':<18}{'files':>6}{'queued':>8}{'started':>8}{'ended':>8}")
    for record in reversed(instance.get_run_records()):
        run, stats = record.dagster_run, instance.get_run_stats(record.dagster_run.run_id)
        at = [
            f"{moment - landed_at:8.1f}" if moment else f"{'-':>8}"
            for moment in (record.create_timestamp.timestamp(), stats.start_time, stats.end_time)
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


def report(files: int, floor_s: float, daemon_s: float, latencies: list[float], runs: int) -> None:
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)] if ordered else float("nan")
    print(f"\n{files} files landed at once; {runs} scoring runs; {len(latencies)} materializations")
    print(f"{'':<44}{'seconds':>9}")
    print(f"{'floor: one process, one file after another':<44}{floor_s:>9.1f}")
    print(f"{'daemon: landing -> last events stored':<44}{daemon_s:>9.1f}")
    print(f"{'daemon / floor':<44}{daemon_s / floor_s:>9.2f}   (goal <= 3)")
    print(f"{'latency per file, p50':<44}{statistics.median(latencies):>9.1f}")
    print(f"{'latency per file, p95':<44}{p95:>9.1f}")
    print(f"{'latency per file, max':<44}{max(latencies):>9.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
