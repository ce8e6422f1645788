"""A plant's year in Dagster's UI: the GraphQL the asset page asks of ``file_events``.

Run by hand (not a test; it needs the local Postgres server):

    .venv/bin/python benchmarks/bench_partitions_ui.py [--robots 100] [--days 365]

A fresh Dagster instance on Postgres (the repo's dagster.yaml) gets ``--robots`` robots as
partitions and one materialization of ``file_events`` per robot-day for ``--days`` days (a
plant whose every robot lands a file a day; more files a day add materializations, never
partitions), one ERROR check verdict on every tenth robot-day. The code location is loaded as
the webserver loads it, and the two queries the asset's partitions page sends are timed: the
partition status (the calendar of each robot's days) and the partition stats (the counts).
Target: each ≤ 1 s. Partitions grow with robots × days: ``--robots 100 --days 365`` is
36,500, whatever number of files lands.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID
from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

from benchmarks.bench_fleet_throughput import scratch_databases
from pm_pipeline.defs.event_metadata import ERROR_CHECK
from pm_pipeline.defs.partitions import ROBOTS, robot_day_key

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ASSET = {"path": ["file_events"]}
STATUS_QUERY = """
query Status($key: AssetKeyInput!) {
  assetNodes(assetKeys: [$key]) {
    assetPartitionStatuses {
      ... on MultiPartitionStatuses {
        primaryDimensionName
        ranges {
          primaryDimStartKey
          primaryDimEndKey
          secondaryDim {
            ... on DefaultPartitionStatuses { materializedPartitions failedPartitions }
            ... on TimePartitionStatuses { ranges { status startKey endKey } }
          }
        }
      }
    }
  }
}
"""
STATS_QUERY = """
query Stats($key: AssetKeyInput!) {
  assetNodes(assetKeys: [$key]) {
    partitionStats { numMaterialized numPartitions numFailed numMaterializing }
  }
}
"""


QUERIES = {"partition status": STATUS_QUERY, "partition stats": STATS_QUERY}


def main() -> int:
    parser = argparse.ArgumentParser(description="file_events' partitions page, a plant's year")
    parser.add_argument("--robots", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    robots = [f"robot-{n:03d}" for n in range(1, args.robots + 1)]
    last = date.today() - timedelta(days=1)
    days = [(last - timedelta(days=n)).isoformat() for n in reversed(range(args.days))]
    with tempfile.TemporaryDirectory() as home, scratch_databases(1) as (dagster_url,):
        os.environ["DAGSTER_PG_URL"] = dagster_url
        (Path(home) / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
        with dg.DagsterInstance.from_config(home) as instance:
            instance.add_dynamic_partitions(ROBOTS, robots)
            started = time.perf_counter()
            written = store_robot_days(instance, robots, days)
            print(
                f"{written} materializations of file_events ({len(robots)} robots × "
                f"{len(days)} days) stored in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            timings = time_queries(instance, args.repeats)
    report(len(robots) * len(days), timings)
    return 0


def store_robot_days(instance: dg.DagsterInstance, robots: list[str], days: list[str]) -> int:
    """One materialization per robot-day, and every tenth robot-day's failed ERROR check, as
    landed_files_job reports them; in batches, as a year of runs would have left them."""
    batch: list[EventLogEntry] = []
    count = 0
    for index, (robot, day) in enumerate((r, d) for d in days for r in robots):
        partition = str(robot_day_key(robot, day))
        materialization = dg.AssetMaterialization(
            "file_events", partition=partition, metadata={"file_name": f"{robot}-{day}.csv"}
        )
        batch.append(
            _entry(DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(materialization))
        )
        if index % 10 == 0:
            evaluation = dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("file_events"),
                check_name=ERROR_CHECK,
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                partition=partition,
            )
            # Dagster writes check verdicts one at a time (no batch writes for them).
            instance.event_log_storage.store_event(
                _entry(DagsterEventType.ASSET_CHECK_EVALUATION, evaluation)
            )
        count += 1
        if len(batch) >= 1000:
            instance.event_log_storage.store_event_batch(batch)
            batch = []
    if batch:
        instance.event_log_storage.store_event_batch(batch)
    return count


def _entry(kind: DagsterEventType, data: Any) -> EventLogEntry:
    """A runless event, as ``instance.report_runless_asset_event`` writes one."""
    event = DagsterEvent(
        event_type_value=kind.value, event_specific_data=data, job_name=RUNLESS_JOB_NAME
    )
    return EventLogEntry(
        error_info=None,
        level="debug",
        user_message="",
        run_id=RUNLESS_RUN_ID,
        timestamp=time.time(),
        dagster_event=event,
    )


def time_queries(instance: dg.DagsterInstance, repeats: int) -> dict[str, list[float]]:
    """Each query's seconds, ``repeats`` times, through the code location the webserver loads."""
    timings: dict[str, list[float]] = {"partition status": [], "partition stats": []}
    with define_out_of_process_context(
        str(PROJECT_ROOT / "workspace.yaml"), None, instance
    ) as context:
        for _ in range(repeats):
            for name, query in (
                ("partition status", STATUS_QUERY),
                ("partition stats", STATS_QUERY),
            ):
                started = time.perf_counter()
                result = execute_dagster_graphql(context, query, {"key": ASSET})
                timings[name].append(time.perf_counter() - started)
                assert not result.errors, result.errors
            if len(timings["partition stats"]) == 1:
                stats = result.data["assetNodes"][0]["partitionStats"]
                print(f"partition stats: {stats}", flush=True)
    return timings


def report(partitions: int, timings: dict[str, list[float]]) -> None:
    print(f"\n{partitions} robot-day partitions, one materialization each")
    print(f"{'query':<20}{'first s':>9}{'median s':>10}{'max s':>8}   (target <= 1 s)")
    for name, seconds in timings.items():
        print(
            f"{name:<20}{seconds[0]:>9.2f}{statistics.median(seconds):>10.2f}{max(seconds):>8.2f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
