"""Under the real daemon, events_summary follows the events as files are scored: no one has
to run views_job for the summary to count a newly dropped file's events."""

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import SampleFault, inject_wear, write_export
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.e2e.daemon_harness import DaemonSite

pytestmark = pytest.mark.slow  # a real dagster-daemon; `pytest -m "not slow"` leaves it out


def landed_events(site: DaemonSite) -> int:
    with sa.create_engine(site.readings_url).connect() as connection:
        query = "SELECT count(*) FROM pm_events WHERE source <> 'synthetic'"
        return int(connection.execute(sa.text(query)).scalar() or 0)


def summarised_events(site: DaemonSite) -> int | None:
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("events_summary"))
    if event is None or event.asset_materialization is None:
        return None
    return int(event.asset_materialization.metadata["events"].value)  # type: ignore[arg-type]


def test_events_summary_refreshes_after_a_dropped_file_is_scored(
    tmp_path: Path, real_export: Path
) -> None:
    site = DaemonSite(tmp_path, f"sqlite:///{tmp_path / 'readings.db'}")
    site.prepare()
    readings = read_export(real_export)
    write_export(readings.iloc[:30_000], site.root / "history.csv")
    live = readings.iloc[30_000:31_500]
    start = live[TIME_COLUMN].iloc[300]
    worn = inject_wear(live, SampleFault("axis_2", 1.8, start, start + pd.Timedelta(minutes=20)))
    site.cli("ingest", str(site.root / "history.csv"))
    site.cli("train")
    try:
        site.start_daemon()
        write_export(worn, site.drop / "worn.csv")
        wait_for(
            lambda: landed_events(site) > 0,
            240,
            "the dropped file's events to be stored",
            site.daemon_log,
        )
        wait_for(
            lambda: summarised_events(site) == landed_events(site),
            180,
            "events_summary to count the stored events",
            lambda: (
                f"summary {summarised_events(site)}, stored {landed_events(site)}\n"
                + site.daemon_log()
            ),
        )
    finally:
        site.stop_all()
