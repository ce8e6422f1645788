"""Drop-to-events latency under the real daemon, against scoring the same file directly.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_drop_latency.py [--drops 6] [--rows 300]

Trains on the real export in ../shared/data, starts `dagster-daemon run` on a temporary SQLite
instance with the settings the local commands write (run queue, run recovery), then drops
files of ``--rows`` readings into the drop folder one at a time (written under a temporary
name and renamed, as a controller export lands) and times each from the rename until its
events are stored and the file is archived. The baseline is `pm-pipeline
score` of an equal file, timed in the same invocation: the work itself, without the sensor
interval, run queue and run-worker start-up.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.e2e.daemon_harness import (
    DaemonSite,
    archived,
    use_local_instance_settings,
)

REAL_EXPORT = Path(__file__).resolve().parents[2] / "shared" / "data" / "RMBR4-2_export_test.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description="Drop-to-events latency under the daemon.")
    parser.add_argument("--drops", type=int, default=6)
    parser.add_argument("--rows", type=int, default=300)
    args = parser.parse_args()
    readings = read_export(REAL_EXPORT)
    with tempfile.TemporaryDirectory() as folder:
        site = DaemonSite(Path(folder), f"sqlite:///{folder}/readings.db")
        site.prepare()
        use_local_instance_settings(site)  # what `make dev` runs: run queue, recovery
        history = site.root / "history.csv"
        write_export(readings.iloc[:30_000], history)
        site.cli("ingest", str(history))
        site.cli("train")
        baseline = time_direct_scoring(site, readings, args.rows)
        site.start_daemon()
        try:
            latencies = time_drops(site, readings, args.drops, args.rows)
        finally:
            site.stop_all()
    report(latencies, baseline, args.rows)
    return 0


def time_direct_scoring(site: DaemonSite, readings, rows: int) -> float:
    direct = site.root / "direct.csv"
    write_export(readings.iloc[29_000 : 29_000 + rows], direct)
    started = time.perf_counter()
    site.cli("score", str(direct))
    return time.perf_counter() - started


def time_drops(site: DaemonSite, readings, drops: int, rows: int) -> list[float]:
    # A first file warms the daemon up (code server loaded, sensor ticking); it is not timed.
    drop_one(site, readings, 0, rows, "warmup")
    latencies = []
    for number in range(1, drops + 1):
        latencies.append(drop_one(site, readings, number, rows, f"drop{number:02d}"))
        print(f"drop {number}: {latencies[-1]:.1f} s", flush=True)
    return latencies


def drop_one(site: DaemonSite, readings, number: int, rows: int, stem: str) -> float:
    start = 30_000 + number * rows
    staged = site.root / f"{stem}.csv"
    write_export(readings.iloc[start : start + rows], staged)
    landed_at = time.monotonic()
    staged.replace(site.drop / staged.name)
    wait_for(lambda: archived(site, stem), 180, f"{stem} to be scored", site.daemon_log)
    return time.monotonic() - landed_at


def report(latencies: list[float], baseline: float, rows: int) -> None:
    print(f"\n{len(latencies)} drops of {rows} readings, daemon on a SQLite instance")
    print(f"{'':<34}{'p50 s':>8}{'min s':>8}{'max s':>8}")
    print(
        f"{'drop -> events stored (daemon)':<34}{statistics.median(latencies):>8.1f}"
        f"{min(latencies):>8.1f}{max(latencies):>8.1f}"
    )
    print(f"{'pm-pipeline score (direct)':<34}{baseline:>8.1f}{baseline:>8.1f}{baseline:>8.1f}")
    print("target: p50 <= 15 s")


if __name__ == "__main__":
    raise SystemExit(main())
