"""Reading the long layout (one row per reading per axis) into a training frame.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_source_read.py [--readings 1000000] [--url URL]

The real export in ../shared/data is repeated and melted into a fact table of ``--readings``
rows (time, axis id, current) plus an axes table listing all eight axes, in a scratch schema
dropped afterwards. Two variants, each in a fresh child process so peak RSS is its own
(``VmHWM``, imports included; "+MB in step" is what the read itself added), in one
invocation:

* ``pm_pipeline``: :func:`pm_pipeline.db.sources.read_source`, a SQL pivot streamed through
  ``COPY … TO STDOUT`` and parsed by Arrow;
* ``pandas``: ``pandas.read_sql`` of the fact rows followed by ``DataFrame.pivot``.
"""

import argparse
import multiprocessing
import time
import uuid
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.db.engine import normalise_url, open_engine
from pm_pipeline.db.sources import LongSource, read_source

REAL_EXPORT = Path(__file__).resolve().parents[2] / "shared" / "data" / "RMBR4-2_export_test.csv"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def fact_rows(readings: int) -> pd.DataFrame:
    one = read_export(REAL_EXPORT)
    span = one[TIME_COLUMN].iloc[-1] - one[TIME_COLUMN].iloc[0] + pd.Timedelta(minutes=1)
    instants = -(-readings // len(AXES))
    copies = -(-instants // len(one))
    wide = pd.concat(
        [one.assign(**{TIME_COLUMN: one[TIME_COLUMN] + k * span}) for k in range(copies)],
        ignore_index=True,
    ).iloc[:instants]
    long = wide.melt(id_vars=[TIME_COLUMN], value_vars=list(AXES), var_name="axis")
    long["axis_id"] = long["axis"].str.split("_").str[1].astype(int)
    return long.rename(columns={TIME_COLUMN: "recorded_at", "value": "current_a"})[
        ["recorded_at", "axis_id", "current_a"]
    ].iloc[:readings]


def _memory_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in MB.

    Not ``getrusage``'s ``ru_maxrss``: Linux carries that across ``exec``, so a spawned
    child would report the parent's peak (here the 1M-row fact frame it built and loaded).
    ``VmHWM`` belongs to the child's own address space.
    """
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _child(variant: str, url: str, schema: str, queue: multiprocessing.Queue) -> None:
    scoped = f"{url}?options=-csearch_path%3D{schema}"
    # The module's imports (pandas, SQLAlchemy, Arrow through pm_pipeline) are loaded on
    # both sides by now, so "+MB" is the read alone.
    before = _memory_mb("VmRSS")
    started = time.perf_counter()
    if variant == "pm_pipeline":
        source = LongSource(
            "fact", axes_table="axes", time_column="recorded_at", current_column="current_a"
        )
        frame = read_source(open_engine(scoped), source, "any")
    else:
        engine = sa.create_engine(normalise_url(scoped))
        rows = pd.read_sql(
            "SELECT recorded_at, axis_id, current_a FROM fact "
            "WHERE axis_id IN (SELECT axis_id FROM axes) ORDER BY recorded_at",
            engine,
        )
        frame = rows.pivot(index="recorded_at", columns="axis_id", values="current_a")
        frame.columns = [f"axis_{k}" for k in frame.columns]
        frame = frame.reset_index()
    seconds = time.perf_counter() - started
    peak = _memory_mb("VmHWM")
    queue.put((seconds, len(frame), peak, peak - before))


def run(variant: str, url: str, schema: str) -> tuple[float, int, float, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(variant, url, schema, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--url", default=DEFAULT_URL)
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(normalise_url(args.url))
    facts = fact_rows(args.readings)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        connection.execute(
            sa.text(
                f'CREATE TABLE "{schema}".fact (id bigserial PRIMARY KEY, '
                "recorded_at timestamptz NOT NULL, axis_id integer NOT NULL, current_a real)"
            )
        )
        facts.to_sql(
            "fact",
            connection,
            schema=schema,
            if_exists="append",
            index=False,
            method="multi",
            chunksize=20_000,
        )
        pd.DataFrame({"axis_id": range(1, len(AXES) + 1)}).to_sql(
            "axes", connection, schema=schema, index=False
        )
        connection.execute(sa.text(f'CREATE INDEX ON "{schema}".fact (recorded_at)'))
        connection.execute(sa.text(f'ANALYZE "{schema}".fact'))
    try:
        print(f"{len(facts):,} readings in the long layout (2 cores)")
        print(
            f"{'variant':<14}{'seconds':>9}{'instants':>10}{'readings/s':>12}"
            f"{'peak RSS MB':>13}{'+MB in step':>13}"
        )
        results = {variant: run(variant, args.url, schema) for variant in ("pm_pipeline", "pandas")}
        for variant, (seconds, instants, peak, added) in results.items():
            rate = len(facts) / seconds
            print(
                f"{variant:<14}{seconds:>9.2f}{instants:>10,}{rate:>12,.0f}{peak:>13,.0f}"
                f"{added:>13,.0f}"
            )
        ratio = results["pandas"][0] / results["pm_pipeline"][0]
        print(f"pm_pipeline is {ratio:.1f}x the speed of read_sql + pivot")
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
