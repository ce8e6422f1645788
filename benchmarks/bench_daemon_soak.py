"""The daemon's memory over a long run of the fleet benchmark's load: does it stay flat?

Run by hand (not a test; it needs the local Postgres server):

    .venv/bin/python benchmarks/bench_daemon_soak.py [--minutes 60] [--robots 100]
        [--rows 150] [--round-every 60] [--sample-every 20]

The fleet of ``benchmarks/bench_fleet_throughput.py`` (each robot its own trained model, one
file of ``--rows`` readings per robot per round, continuing its readings), landed round after
round under `dagster-daemon run` with the repo's dagster.yaml on Postgres, for ``--minutes``.
A round lands once the sensor has taken the one before into runs, at most two rounds are
waiting to be scored, and at least ``--round-every`` seconds after the one before (0: as fast
as the pipeline takes them), so the backlog stays bounded and memory measures the pipeline,
not a growing queue.

Every ``--sample-every`` seconds it reads, from /proc, the resident memory of the daemon
process, of the code server it started, and of the whole process tree (run workers
included), and the files landed and scored so far. Printed: the samples, then the median of
each over six equal spans of the run: flat is the same figure in the last spans.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dagster as dg
from bench_fleet_throughput import (
    archived_count,
    prepare_robots,
    ready_to_land,
    scratch_databases,
    taken,
    write_fleet,
)

from pm_pipeline_tests.e2e.daemon_harness import DaemonSite, process_tree


def main() -> int:
    parser = argparse.ArgumentParser(description="The daemon's memory under a long fleet load.")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--robots", type=int, default=100)
    parser.add_argument("--rows", type=int, default=150)
    parser.add_argument("--round-every", type=float, default=60.0)
    parser.add_argument("--sample-every", type=float, default=20.0)
    args = parser.parse_args()
    robots = [f"robot-{n:03d}" for n in range(1, args.robots + 1)]
    rounds = int(args.minutes * 60 / max(args.round_every, 10.0)) + 2
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        files = write_fleet(root / "staged", robots, rounds, args.rows)
        print(f"{len(files)} files staged ({rounds} rounds of {len(robots)} robots)", flush=True)
        with scratch_databases(2) as (readings_url, dagster_url):
            site = DaemonSite(root / "site", readings_url, dagster_pg_url=dagster_url)
            os.environ["DAGSTER_PG_URL"] = dagster_url  # this process reads the runs back
            site.prepare()
            prepare_robots(readings_url, robots)
            samples = soak(site, files, len(robots), args)
    report(samples)
    return 0


Sample = tuple[float, int, int, int, int, int]
"""Seconds since the first landing, daemon kB, code server kB, tree kB, landed, scored."""


def soak(site: DaemonSite, files: list[tuple[str, Path]], per_round: int, args) -> list[Sample]:
    daemon = site.start_daemon()
    samples: list[Sample] = []
    try:
        ready_to_land(site, files)
        started = time.time()
        deadline = started + args.minutes * 60
        landed, next_sample, round_at = 0, started, started
        with dg.DagsterInstance.from_config(str(site.home)) as instance:
            pending: set[str] = set()
            while time.time() < deadline and landed < len(files):
                if (
                    time.time() >= round_at
                    and not pending - taken(instance)
                    and archived_count(site) >= landed - 2 * per_round
                ):
                    this_round = files[landed : landed + per_round]
                    for robot, path in this_round:
                        path.replace(site.drop / robot / path.name)
                    pending = {str(site.drop / robot / path.name) for robot, path in this_round}
                    landed += len(this_round)
                    round_at = time.time() + args.round_every
                if time.time() >= next_sample:
                    samples.append(sample(daemon.pid, time.time() - started, landed, site))
                    print(format_sample(samples[-1]), flush=True)
                    next_sample += args.sample_every
                time.sleep(1)
    finally:
        site.stop_all()
    return samples


def sample(daemon_pid: int, at: float, landed: int, site: DaemonSite) -> Sample:
    tree = process_tree(daemon_pid)
    servers = [pid for pid in tree if b"grpc" in command_line(pid)]
    return (
        at,
        resident_kb(daemon_pid),
        sum(resident_kb(pid) for pid in servers),
        sum(resident_kb(pid) for pid in tree),
        landed,
        archived_count(site),
    )


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def resident_kb(pid: int) -> int:
    """VmRSS of ``pid`` in kB (0 once it has ended)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def format_sample(row: Sample) -> str:
    at, daemon, server, tree, landed, scored = row
    return (
        f"{at / 60:6.1f} min  daemon {daemon / 1024:6.1f} MB  code server {server / 1024:6.1f} MB"
        f"  tree {tree / 1024:7.1f} MB  landed {landed:5d}  scored {scored:5d}"
    )


def report(samples: list[Sample], spans: int = 6) -> None:
    """Medians of each memory over ``spans`` equal spans of the run: a process that warms up
    rises in the first spans and then holds; a leak keeps rising to the last."""
    if len(samples) < 2 * spans:
        print("too few samples to compare the spans of the run")
        return
    total = samples[-1][0]
    print(f"\n{total / 60:.0f} minutes, {samples[-1][5]} files scored")
    print(f"{'resident memory, MB':<24}" + "".join(f"{f'span {n + 1}':>9}" for n in range(spans)))
    for index, name in ((1, "daemon"), (2, "code server"), (3, "process tree")):
        medians = []
        for n in range(spans):
            low, high = total * n / spans, total * (n + 1) / spans
            span = [row[index] for row in samples if low <= row[0] <= high]
            medians.append(statistics.median(span) / 1024)
        print(f"{name:<24}" + "".join(f"{m:>9.1f}" for m in medians))


if __name__ == "__main__":
    raise SystemExit(main())
