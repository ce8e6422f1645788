"""`pm-pipeline ingest` as a whole process, against plain pandas and psql's ``\\copy``.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_ingest.py [--copies 20] [--rounds 1] [--url URL]

The real export in ../shared/data is repeated ``--copies`` times (20: 793,440 readings), each
copy's timestamps shifted past the previous one, into one CSV in the controller's format.
Every variant then runs as its own process under ``/usr/bin/time`` (wall seconds and peak
RSS), in one invocation, against the same Postgres server, each round in a fresh schema
that is dropped afterwards:

* ``pm-pipeline ingest FILE`` (the real command: start-up, imports, parse, COPY, commit);
* a process doing ``pandas.read_csv`` and ``DataFrame.to_sql``;
* ``psql -c "\\copy … CSV HEADER"`` into an unindexed table with the file's columns, and
  into the same table with a primary key on time (what an index costs the server).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
REAL_EXPORT = ROOT.parent / "shared" / "data" / "RMBR4-2_export_test.csv"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
BIN = Path(sys.executable).parent
FILE_COLUMNS = ", ".join(
    ["trait text", *(f"axis_{n} double precision" for n in range(1, 15)), "time timestamptz"]
)
INGEST, PANDAS = "pm-pipeline ingest", "pandas read_csv + to_sql"
COPY, COPY_KEYED = "psql \\copy, no index", "psql \\copy, primary key"
PANDAS_SCRIPT = """
import sys
import pandas as pd
import sqlalchemy as sa
frame = pd.read_csv(sys.argv[1])
frame["Time"] = pd.to_datetime(frame["Time"], utc=True)
frame.to_sql("pandas_readings", sa.create_engine(sys.argv[2]), index=False, if_exists="append")
"""


def repeated_export(copies: int, path: Path) -> int:
    """Write the real export ``copies`` times, times shifted; return the readings written."""
    lines = REAL_EXPORT.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    prefixes = [row[: row.rindex(",") + 1] for row in rows]
    times = pd.to_datetime([row[row.rindex(",") + 2 : -2] for row in rows], utc=True)
    stamps = times.tz_localize(None).to_numpy("datetime64[ms]")
    span = stamps[-1] - stamps[0] + np.timedelta64(60_000, "ms")
    with path.open("w") as handle:
        handle.write(header + "\n")
        for copy in range(copies):
            texts = np.datetime_as_string(stamps + copy * span, unit="ms")
            handle.writelines(f'{p}"{t}Z"\n' for p, t in zip(prefixes, texts, strict=True))
    return copies * len(rows)


def psycopg2_url(url: str) -> str:
    """The URL for SQLAlchemy with the psycopg2 driver (psql takes the plain one)."""
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process, from ``/usr/bin/time``."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        completed = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", "-o", report.name, *command],
            env=env,
            capture_output=True,
            text=True,
        )
        if completed.returncode != 0:
            raise SystemExit(f"{command[0]} failed:\n{completed.stderr[-2000:]}")
        seconds, kilobytes = report.read().split()[-2:]
    return float(seconds), int(kilobytes) / 1024


def one_round(url: str, csv: Path) -> dict[str, tuple[float, float, int]]:
    """Every variant once, in a fresh schema; seconds, peak MB and rows stored."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(psycopg2_url(url))
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        connection.execute(sa.text(f'CREATE TABLE "{schema}".plain ({FILE_COLUMNS})'))
        connection.execute(
            sa.text(f'CREATE TABLE "{schema}".keyed ({FILE_COLUMNS}, PRIMARY KEY (time))')
        )
    in_schema = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PM_DATABASE_URL": in_schema}
    psql = ["psql", "-q", "-d", in_schema, "-c"]
    variants = {
        INGEST: ([str(BIN / "pm-pipeline"), "ingest", str(csv)], "pm_readings"),
        PANDAS: (
            [sys.executable, "-c", PANDAS_SCRIPT, str(csv), psycopg2_url(in_schema)],
            "pandas_readings",
        ),
        COPY: ([*psql, f"\\copy plain FROM '{csv}' CSV HEADER"], "plain"),
        COPY_KEYED: ([*psql, f"\\copy keyed FROM '{csv}' CSV HEADER"], "keyed"),
    }
    results = {}
    try:
        # Our tables first, untimed, as `make run` does.
        subprocess.run([BIN / "pm-pipeline", "db", "upgrade"], env=env, check=True)
        for name, (command, table) in variants.items():
            seconds, peak = timed(command, env)
            with admin.connect() as connection:
                rows = connection.execute(sa.text(f'SELECT count(*) FROM "{schema}".{table}'))
                results[name] = (seconds, peak, int(rows.scalar() or 0))
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return results


def report(results: dict[str, tuple[float, float, int]], rows: int) -> None:
    print(f"{'variant':<26}{'seconds':>9}{'rows/s':>12}{'peak RSS MB':>13}")
    for name, (seconds, peak, stored) in results.items():
        assert stored == rows, f"{name} stored {stored} rows, expected {rows}"
        print(f"{name:<26}{seconds:>9.2f}{rows / seconds:>12,.0f}{peak:>13.0f}")
    ours = results[INGEST][0]
    print(
        f"pm-pipeline ingest is {results[PANDAS][0] / ours:.1f}x the pandas process (goal >= 10x) "
        f"and runs at {results[COPY][0] / ours:.0%} of the speed of \\copy (goal >= 33%); "
        f"\\copy into a table with a primary key: {results[COPY_KEYED][0] / ours:.0%}."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="pm-pipeline ingest against pandas and \\copy")
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--url", default=os.environ.get("PM_TEST_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if not REAL_EXPORT.is_file():
        print(f"the real export is needed at {REAL_EXPORT}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "export.csv"
        rows = repeated_export(args.copies, csv)
        print(f"{rows:,} readings ({csv.stat().st_size / 1e6:.0f} MB CSV), Postgres at {args.url}")
        for round_number in range(1, args.rounds + 1):
            print(f"\nround {round_number}")
            report(one_round(args.url, csv), rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
