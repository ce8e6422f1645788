"""The real thing: dagster-daemon scores files replayed into the drop folder, exactly once,
across a restart, with events_summary following the stored events; once with Dagster on
SQLite and once with Dagster on Postgres."""

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.e2e.daemon_harness import DaemonSite, archived, sensor_ticks

pytestmark = pytest.mark.slow  # a real dagster-daemon; `pytest -m "not slow"` leaves it out

PARTS = ("slice_part0001", "slice_part0002", "slice_part0003")


@pytest.fixture(params=["sqlite", "postgres"])
def site(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DaemonSite]:
    if request.param == "sqlite":
        site = DaemonSite(tmp_path, f"sqlite:///{tmp_path / 'readings.db'}")
    else:
        make_url: Callable[[], str] = request.getfixturevalue("postgres_schema_url")
        site = DaemonSite(tmp_path, make_url(), dagster_pg_url=make_url())
        monkeypatch.setenv("DAGSTER_PG_URL", site.dagster_pg_url or "")
    site.prepare()
    yield site
    site.stop_all()


def stored(site: DaemonSite) -> dict[str, tuple[int, int]]:
    """Per landed file: (events stored, times ingested)."""
    with sa.create_engine(site.readings_url).connect() as connection:
        events = dict(
            connection.execute(
                sa.text(
                    "SELECT source, count(*) FROM pm_events "
                    "WHERE source NOT LIKE 'synthetic%' GROUP BY source"
                )
            ).all()
        )
        ingests = dict(
            connection.execute(
                sa.text("SELECT file_name, count(*) FROM pm_ingested_files GROUP BY file_name")
            ).all()
        )
    return {
        f"{part}.csv": (events.get(f"{part}.csv", 0), ingests.get(f"{part}.csv", 0))
        for part in PARTS
    }


def scoring_runs(site: DaemonSite) -> tuple[list[str], list[str]]:
    """The statuses of the scoring runs, and the files their materializations name: a run
    scores the files of a tick, of any robots of its lane."""
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="landed_files_job"))
        records = instance.fetch_materializations(dg.AssetKey("file_events"), limit=100).records
    files = sorted(
        str(record.asset_materialization.metadata["file_name"].value)
        for record in records
        if record.asset_materialization is not None
    )
    return sorted(r.status.value for r in runs), files


def summarised_events(site: DaemonSite, asset: str = "events_summary") -> int | None:
    """The event count of the newest events_summary (or open_events' row count), or None
    before its first refresh."""
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None or event.asset_materialization is None:
        return None
    label = "events" if asset == "events_summary" else "dagster/row_count"
    count = event.asset_materialization.metadata[label].value
    return int(count) if isinstance(count, int) else None


def open_event_count(site: DaemonSite) -> int:
    """What `pm-pipeline events --open` lists for the configured robot."""
    listed = site.run_here("events", "--open").stdout.strip().splitlines()
    return 0 if listed[-1].startswith("no ") else len(listed) - 2


def test_dropped_files_are_scored_once_across_a_restart(
    site: DaemonSite, real_export: Path
) -> None:
    readings = read_export(real_export)
    history, live = site.root / "history.csv", site.root / "slice.csv"
    write_export(readings.iloc[:30_000], history)
    write_export(readings.iloc[30_000:30_900], live)
    site.run_here("ingest", str(history))
    site.run_here("train")

    daemon = site.start_daemon()
    site.run_here(
        "replay", str(live), "--to", str(site.drop), "--rows-per-file", "300", "--interval", "1"
    )
    wait_for(
        lambda: all(archived(site, part) for part in PARTS),
        240,
        "the three replayed files to be scored and archived",
        site.daemon_log,
    )
    wait_for(
        lambda: (
            scoring_runs(site)[1] == [f"{part}.csv" for part in PARTS]
            and set(scoring_runs(site)[0]) == {"SUCCESS"}
        ),
        60,
        "the runs of the three files to finish",
        lambda: f"{scoring_runs(site)}\n{site.daemon_log()}",
    )
    runs = scoring_runs(site)
    assert 1 <= len(runs[0]) <= len(PARTS)  # files landing in one tick share a run
    first = stored(site)
    assert all(ingests == 1 for _, ingests in first.values()), first
    # Nobody runs views_job: the summary follows the stored events on its own.
    landed_events = sum(events for events, _ in first.values())
    wait_for(
        lambda: summarised_events(site) == landed_events,
        180,
        "events_summary to count the landed files' events",
        lambda: f"summary {summarised_events(site)}, stored {landed_events}\n{site.daemon_log()}",
    )
    expected = open_event_count(site)
    wait_for(
        lambda: summarised_events(site, "open_events") == expected,
        60,
        "open_events to list the robot's open events",
        lambda: f"open_events {summarised_events(site, 'open_events')}, listed {expected}",
    )

    site.stop_daemon(daemon)
    # While the daemon is down, the same bytes land again under the same name.
    [again] = (site.drop / "archive").glob(f"{PARTS[0]}.*.csv")
    shutil.copy(again, site.drop / f"{PARTS[0]}.csv")
    site.start_daemon()
    wait_for(
        lambda: not (site.drop / f"{PARTS[0]}.csv").exists(),
        120,
        "the repeated file to be recognised and archived",
        site.daemon_log,
    )
    # Two more whole sensor ticks after the one that archived it: none may request a run.
    seen = sensor_ticks(site)
    wait_for(lambda: sensor_ticks(site) >= seen + 3, 60, "two more sensor ticks", site.daemon_log)
    assert stored(site) == first
    assert scoring_runs(site) == runs
