"""Bulk ingest and bulk load on Postgres: pm_pipeline's COPY paths against plain pandas.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_postgres_io.py [--rows 1000000] [--url URL]

The real export in ../shared/data is repeated, each copy shifted past the previous one, until
there are at least ``--rows`` readings. Each variant runs in a fresh child process so its peak
RSS is its own; all four run against the same server in one invocation, in a scratch schema
that is dropped afterwards.
"""

import argparse
import multiprocessing
import os
import pickle
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.engine import normalise_url, open_engine
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.migrate import upgrade_store
from pm_pipeline.db.readings import read_readings
from pm_pipeline.db.schema import readings_table

REAL_EXPORT = Path(__file__).resolve().parents[2] / "shared" / "data" / "RMBR4-2_export_test.csv"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def repeated_readings(rows: int) -> pd.DataFrame:
    """The real export repeated until it holds ``rows`` readings, timestamps kept unique."""
    one = read_export(REAL_EXPORT)
    span = one[TIME_COLUMN].iloc[-1] - one[TIME_COLUMN].iloc[0] + pd.Timedelta(minutes=1)
    copies = -(-rows // len(one))
    frames = [one.assign(**{TIME_COLUMN: one[TIME_COLUMN] + k * span}) for k in range(copies)]
    return pd.concat(frames, ignore_index=True).iloc[:rows]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(variant: str, url: str, data_path: str, queue: multiprocessing.Queue) -> None:
    with open(data_path, "rb") as handle:
        frame: pd.DataFrame = pickle.load(handle)
    engine = open_engine(url)
    upgrade_store(engine)  # our tables, before the clock starts
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    if variant == "copy_ingest":
        ingest_readings(engine, readings_table(), frame, "bench", "bench", "x")
        rows = len(frame)
    elif variant == "pandas_to_sql":
        frame.assign(robot_id="bench").to_sql(
            "pandas_readings", engine, index=False, if_exists="append"
        )
        rows = len(frame)
    elif variant == "copy_read":
        rows = len(read_readings(engine, readings_table(), "bench"))
    else:
        loaded = pd.read_sql(
            f"SELECT * FROM pm_readings WHERE robot_id = 'bench' ORDER BY {TIME_COLUMN}", engine
        )
        rows = len(loaded)
    seconds = time.perf_counter() - started
    queue.put((seconds, rows, _peak_rss_mb(), _peak_rss_mb() - baseline))


def run_variant(variant: str, url: str, data_path: str) -> tuple[float, int, float, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(variant, url, data_path, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description="Bulk ingest and load on Postgres vs pandas.")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", default=os.environ.get("PM_TEST_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if not REAL_EXPORT.is_file():
        print(f"the real export is needed at {REAL_EXPORT}", file=sys.stderr)
        return 1
    frame = repeated_readings(args.rows)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(normalise_url(args.url))
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in args.url else "?"
    url = normalise_url(f"{args.url}{separator}options=-csearch_path%3D{schema}")
    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as handle:
        pickle.dump(frame, handle)
    try:
        results = {
            v: run_variant(v, url, handle.name)
            for v in ("copy_ingest", "pandas_to_sql", "copy_read", "pandas_read_sql")
        }
    finally:
        Path(handle.name).unlink(missing_ok=True)
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    report(results, len(frame))
    return 0


def report(results: dict[str, tuple[float, int, float, float]], rows: int) -> None:
    print(f"{rows:,} readings (real export repeated), Postgres")
    print(f"{'variant':<18}{'seconds':>9}{'rows/s':>12}{'peak RSS MB':>13}{'+MB in step':>13}")
    for name, (seconds, count, peak, grown) in results.items():
        assert count == rows, f"{name} handled {count} rows, expected {rows}"
        print(f"{name:<18}{seconds:>9.2f}{rows / seconds:>12,.0f}{peak:>13.0f}{grown:>13.0f}")
    ingest = results["pandas_to_sql"][0] / results["copy_ingest"][0]
    load = results["pandas_read_sql"][0] / results["copy_read"][0]
    print(f"ingest speed-up vs DataFrame.to_sql: {ingest:.1f}x (target >= 10x)")
    print(f"load speed-up vs pandas.read_sql:    {load:.1f}x (target >= 3x)")


if __name__ == "__main__":
    raise SystemExit(main())
