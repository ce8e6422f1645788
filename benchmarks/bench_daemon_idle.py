"""What an idle dagster-daemon costs, with the code server it manages or with one of its own.

Run by hand (not a test; a few minutes):

    .venv/bin/python benchmarks/bench_daemon_idle.py [--minutes 3]

dagster-daemon reloads its workspace every 60 s (``RELOAD_WORKSPACE_INTERVAL`` in
``dagster/_daemon/controller.py``, a constant). With the repo's ``workspace.yaml`` (a
``python_module`` location) that starts a new code server process each time, which imports
the code location again. A code server started on its own (``dagster code-server start``)
and named in the workspace as a ``grpc_server`` is only asked for its definitions again.

For each setup, side by side in one run: a trained robot on an embedded store (the robust
mode, trained in this process), the daemon left alone for ``--minutes`` with nothing
landing, the CPU of every process of the setup (the daemon, its code servers, the
standalone server) read from /proc over that time, and the code server processes seen;
then one faulty file is dropped, and the seconds until it is scored and archived, with its
events counted, show that the setup still does its work.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
import sqlalchemy as sa

from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import SAMPLE_START, generate_robot_readings, write_export
from pm_pipeline_tests.commands import BIN, wait_for
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.e2e.daemon_harness import PROJECT_ROOT, DaemonSite, archived, process_tree
from pm_pipeline_tests.receivers import free_port

HISTORY_HOURS = 6.0
LOCATION = "pm_pipeline"
"""The repo's location name: sensor cursors and run keys are kept per location."""
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: set[int]) -> dict[int, float]:
    """Each live process's CPU so far (user + system, its own)."""
    seen = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seen[pid] = (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND
    return seen


def is_code_server(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b" api grpc" in command or b"code-server" in command


def trained_site(root: Path, readings: pd.DataFrame) -> DaemonSite:
    site = DaemonSite(root, f"sqlite:///{root / 'readings.db'}")
    site.prepare()
    split = readings[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=HISTORY_HOURS)
    write_export(readings[readings[TIME_COLUMN] < split], root / "history.csv")
    site.run_here("ingest", str(root / "history.csv"))
    site.run_here("train")
    return site


def standalone_workspace(site: DaemonSite) -> Path:
    """``dagster code-server start`` on a free port, among the site's processes, and a
    workspace file that names it."""
    port = free_port()
    log = site.root / "code-server.log"
    site.start(
        [
            str(BIN / "dagster"),
            *("code-server", "start", "-m", "pm_pipeline.definitions"),
            *("--location-name", LOCATION, "-h", "127.0.0.1", "-p", str(port)),
        ],
        log,
    )
    wait_for(lambda: "Started Dagster code proxy server" in log.read_text(), 120, "the code server")
    workspace = site.root / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - grpc_server:\n"
        f"      host: 127.0.0.1\n      port: {port}\n      location_name: {LOCATION}\n"
    )
    return workspace


@dataclass(frozen=True)
class Idle:
    setup: str
    cpu_per_minute: float
    code_servers: int
    scored_s: float
    events: int


def measure(setup: str, minutes: float, readings: pd.DataFrame) -> Idle:
    with tempfile.TemporaryDirectory() as folder:
        site = trained_site(Path(folder), readings)
        try:
            workspace = PROJECT_ROOT / "workspace.yaml"
            if setup == "standalone":
                workspace = standalone_workspace(site)
            site.start_daemon(workspace)
            roots = list(site.processes)
            wait_for(lambda: "landed_file_sensor" in site.daemon_log(), 120, "the first tick")
            time.sleep(10)  # past the start-up of the daemon and its first code server
            totals: dict[int, float] = {}
            servers: set[int] = set()

            def look() -> None:
                pids = {pid for root in roots for pid in process_tree(root.pid)}
                servers.update(pid for pid in pids if is_code_server(pid))
                totals.update(cpu_seconds(pids))

            look()
            before = dict(totals)
            ends = time.monotonic() + minutes * 60
            while time.monotonic() < ends:
                time.sleep(2)
                look()
            idle = sum(totals[pid] - before.get(pid, 0.0) for pid in totals)
            seen_servers = len(servers)

            end = readings[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=HISTORY_HOURS + 2)
            faulty = site.root / "faulty.csv"
            write_export(worn_slice(readings[readings[TIME_COLUMN] < end], HISTORY_HOURS), faulty)
            landed = time.monotonic()
            shutil.copy(faulty, site.drop / faulty.name)
            wait_for(lambda: archived(site, "faulty"), 300, "the file", site.daemon_log)
            scored_after = time.monotonic() - landed
            with sa.create_engine(site.readings_url).connect() as connection:
                events = connection.execute(
                    sa.text("SELECT count(*) FROM pm_events WHERE source = 'faulty.csv'")
                ).scalar_one()
        finally:
            site.stop_all()
    return Idle(setup, idle / minutes, seen_servers, scored_after, int(events))


def main() -> int:
    parser = argparse.ArgumentParser(description="An idle daemon's CPU, two workspaces.")
    parser.add_argument("--minutes", type=float, default=3.0)
    args = parser.parse_args()
    readings = generate_robot_readings(HISTORY_HOURS + 3, SAMPLE_START, seed=11)
    rows = [measure(setup, args.minutes, readings) for setup in ("managed", "standalone")]
    print(f"\nidle for {args.minutes:g} min each, then one faulty file dropped")
    print(f"{'workspace':<34} {'CPU s/min':>9} {'core':>6} {'code servers':>12} {'scored':>8}")
    names = {
        "managed": "python_module (repo's, managed)",
        "standalone": "grpc_server (code-server start)",
    }
    for row in rows:
        print(
            f"{names[row.setup]:<34} {row.cpu_per_minute:>9.1f} {row.cpu_per_minute / 60:>6.1%} "
            f"{row.code_servers:>12} {row.scored_s:>7.1f}s  ({row.events} events)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
