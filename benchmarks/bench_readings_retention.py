"""Readings by month on Postgres: a training window's read as the table grows, retention's drop
of a month, and the size on disk per million readings.

Run by hand (not a test), late, on a quiet machine:

    .venv/bin/python benchmarks/bench_readings_retention.py [--robots 100] [--days 12]
        [--first-robots 10] [--url URL]

In a schema of its own on the local Postgres (dropped at the end), our tables are created
by the migrations (``pm_readings`` partitioned by month) beside ``pm_readings_flat``, the
same columns and primary key unpartitioned: the baseline. Both are filled by server-side
``generate_series`` inserts with the same readings, every robot at 0.5 Hz from
2026-01-25 for ``--days`` days, in landing order (each robot's 5-minute file of 150
readings after the other robots' files of the same 5 minutes), so one robot's readings lie
spread over the table as they do in a plant.

Stage one holds ``--first-robots`` robots (10: 5.2 million readings), stage two adds the
others (100: 51.8 million). At each stage the 7-day training window of ``robot-001``, the
newest 7 days, is read through :func:`pm_pipeline.services.training.read_training_window`
from both tables: one warm-up read, then the median of five; so is robot-001's newest
reading time, read with its readings counted (what ``fleet_health`` read per robot before)
and without (one probe of the key's index, what it reads now). Then the 1-minute rollups are
made for every reading (one set-based insert, timed), the sizes are printed, and
:func:`pm_pipeline.services.retention.retain_readings` removes January (its partitions
of readings and rollups) with a cutoff of 1 February, after a CHECKPOINT.
"""

import argparse
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Callable

import pandas as pd
import sqlalchemy as sa

from pm_pipeline.db.engine import normalise_url, open_engine
from pm_pipeline.db.migrate import upgrade_store
from pm_pipeline.db.partitions import ensure_months, months_spanning
from pm_pipeline.db.readings import newest_reading_time, readings_span
from pm_pipeline.db.rollups import rollup_query
from pm_pipeline.db.schema import readings_minute, readings_table
from pm_pipeline.services.retention import RetentionPolicy, retain_readings
from pm_pipeline.services.training import TrainingWindow, read_training_window

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
START = pd.Timestamp("2026-01-25", tz="UTC")
FILE_READINGS = 150  # a robot's 5-minute file at 0.5 Hz
STEP_S = 2
WINDOW_DAYS = 7.0
TABLES = {"partitioned": "pm_readings", "unpartitioned": "pm_readings_flat"}

_FILL = """
INSERT INTO {table}
SELECT 'robot-' || lpad(r::text, 3, '0'),
       :start + ((b * {file_readings} + k) * interval '{step} seconds'),
       {axes}
FROM generate_series(:first_block, :last_block) b,
     generate_series(:first_robot, :last_robot) r,
     generate_series(0, {file_readings} - 1) k
ORDER BY b, r, k
"""


def fill(engine: sa.Engine, table: str, robots: tuple[int, int], days: float) -> float:
    """Insert the readings of robots ``robots[0]..robots[1]``, a day at a time; seconds."""
    blocks_per_day = 86_400 // (FILE_READINGS * STEP_S)
    axes = ", ".join(f"{2 + n} + random()" for n in range(8))
    statement = sa.text(
        _FILL.format(table=table, file_readings=FILE_READINGS, step=STEP_S, axes=axes)
    )
    started = time.perf_counter()
    for day in range(int(days)):
        with engine.begin() as connection:
            connection.execute(
                statement,
                {
                    "start": START.to_pydatetime(),
                    "first_block": day * blocks_per_day,
                    "last_block": (day + 1) * blocks_per_day - 1,
                    "first_robot": robots[0],
                    "last_robot": robots[1],
                },
            )
    with engine.begin() as connection:
        connection.execute(sa.text(f"ANALYZE {table}"))
    return time.perf_counter() - started


def median_seconds(read: Callable[[], object]) -> float:
    """Median seconds of five calls of ``read``, after one warm-up."""
    read()
    times = []
    for _ in range(5):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_window_reads(engine: sa.Engine, table: str) -> tuple[float, int]:
    """Median seconds of five reads of robot-001's newest 7 days (after one warm-up)."""
    window = TrainingWindow(last_days=WINDOW_DAYS)
    readings = readings_table(table)
    rows = len(read_training_window(engine, readings, "robot-001", window))
    return median_seconds(lambda: read_training_window(engine, readings, "robot-001", window)), rows


def time_newest_reads(engine: sa.Engine) -> tuple[float, float]:
    """Median seconds of robot-001's newest reading time, read as fleet_health read it before
    (:func:`readings_span`: its readings counted too) and as it reads it now."""
    readings = readings_table()
    return (
        median_seconds(lambda: readings_span(engine, readings, "robot-001")),
        median_seconds(lambda: newest_reading_time(engine, readings, "robot-001")),
    )


def count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def size_bytes(engine: sa.Engine, table: str) -> int:
    """Heap, indexes and TOAST of ``table`` and of every partition under it."""
    query = (
        "SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) FROM "
        "pg_partition_tree(CAST(:t AS regclass))), pg_total_relation_size(CAST(:t AS regclass)))"
    )
    with engine.connect() as connection:
        return int(connection.execute(sa.text(query), {"t": table}).scalar_one())


def make_rollups(engine: sa.Engine) -> float:
    """Roll up every reading (the migration's way for stored readings); seconds."""
    readings = readings_table()
    names = [column.name for column in readings_minute.columns]
    started = time.perf_counter()
    with engine.begin() as connection:
        ensure_months(
            connection, readings_minute.name, months_spanning(START, START + pd.Timedelta(days=60))
        )
        rows = rollup_query(connection, readings)
        connection.execute(sa.insert(readings_minute).from_select(names, rows))
        connection.execute(sa.text(f"ANALYZE {readings_minute.name}"))
    return time.perf_counter() - started


def stage(
    engine: sa.Engine, robots: tuple[int, int], days: float, results: list, newest: list
) -> None:
    for table in TABLES.values():
        seconds = fill(engine, table, robots, days)
        print(f"  filled {table} with robots {robots[0]}-{robots[1]} in {seconds:.0f} s")
    total = count(engine, TABLES["partitioned"])
    for kind, table in TABLES.items():
        median, rows = time_window_reads(engine, table)
        results.append((total, kind, median, rows))
        print(f"  {total:>11,} readings, {kind:>13}: 7-day window ({rows:,} rows) {median:.3f} s")
    counted, probed = time_newest_reads(engine)
    newest.append((total, counted, probed))
    print(f"  newest reading of one robot: {counted:.3f} s counting, {probed:.4f} s not")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--robots", type=int, default=100)
    parser.add_argument("--first-robots", type=int, default=10)
    parser.add_argument("--days", type=float, default=12)
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()
    # A SIGTERM ends the run through the finally below, so the schema is dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    schema = f"pm_bench_retention_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(normalise_url(args.url))
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        run(open_engine(args.url, schema), args)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def run(engine: sa.Engine, args: argparse.Namespace) -> None:
    upgrade_store(engine)
    last = START + pd.Timedelta(days=args.days)
    with engine.begin() as connection:
        ensure_months(connection, "pm_readings", months_spanning(START, last))
        connection.execute(sa.text("CREATE TABLE pm_readings_flat (LIKE pm_readings)"))
        connection.execute(
            sa.text(
                "ALTER TABLE pm_readings_flat ADD CONSTRAINT pk_pm_readings_flat "
                "PRIMARY KEY (robot_id, timestamp_recorded)"
            )
        )
    results: list = []
    newest: list = []
    print(f"stage 1: {args.first_robots} robots, {args.days:g} days at 0.5 Hz")
    stage(engine, (1, args.first_robots), args.days, results, newest)
    print(f"stage 2: {args.robots} robots")
    stage(engine, (args.first_robots + 1, args.robots), args.days, results, newest)
    report_reads(results)
    report_newest(newest)
    report_sizes(engine, make_rollups(engine))
    report_retention(engine)


def report_reads(results: list) -> None:
    print("\n| readings | table | 7-day window of one robot (s) | vs. the smaller table |")
    print("|---:|---|---:|---:|")
    smallest = {kind: median for total, kind, median, _ in results[:2]}
    for total, kind, median, _ in results:
        print(f"| {total:,} | {kind} | {median:.3f} | {median / smallest[kind]:.2f}× |")


def report_newest(newest: list) -> None:
    print("\n| readings | one robot's newest reading, its readings counted (s) | not counted (s) |")
    print("|---:|---:|---:|")
    for total, counted, probed in newest:
        print(f"| {total:,} | {counted:.3f} | {probed:.4f} |")


def report_sizes(engine: sa.Engine, rollup_seconds: float) -> None:
    readings = count(engine, "pm_readings")
    minutes = count(engine, readings_minute.name)
    print(f"\nrollups: {minutes:,} minutes from {readings:,} readings in {rollup_seconds:.0f} s")
    print("\n| table | size | MB per million readings |")
    print("|---|---:|---:|")
    for table in ("pm_readings", "pm_readings_flat", readings_minute.name):
        size = size_bytes(engine, table)
        print(f"| {table} | {size / 1e9:.2f} GB | {size / 1e6 / (readings / 1e6):.1f} |")


def report_retention(engine: sa.Engine) -> None:
    before = count(engine, "pm_readings")
    now = pd.Timestamp("2026-02-01", tz="UTC") + pd.Timedelta(days=30)
    with engine.begin() as connection:
        connection.execute(sa.text("CHECKPOINT"))  # not the rollups' writes still in flight
    started = time.perf_counter()
    report = retain_readings(engine, RetentionPolicy(30, 30, 0), now)
    seconds = time.perf_counter() - started
    gone = before - count(engine, "pm_readings")
    dropped = [name for removed in report.removed for name in removed.partitions]
    print(
        f"\nretention: dropped {', '.join(dropped)} ({gone:,} readings) in {seconds:.3f} s; "
        f"the readings were locked for {report.locked_seconds:.3f} s of it (detaching), "
        "the rest is the filesystem freeing the files"
    )


if __name__ == "__main__":
    main()
