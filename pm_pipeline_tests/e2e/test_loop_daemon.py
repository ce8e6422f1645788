"""The engineer's loop under the real daemon, on generated data: a robot trained on program
A switches to program B (no fault); its first file raises events; the engineer labels the
first one new-normal; baseline_retraining_sensor retrains the robot on program B; the next
program-B file raises no event; a fault planted later in program B is caught; and
fleet_health follows on its own."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.programs import switch_program
from pm_pipeline.core.simulation.sample import (
    SAMPLE_START,
    SampleFault,
    generate_robot_readings,
    inject_wear,
    write_export,
)
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.e2e.daemon_harness import DaemonSite, archived

pytestmark = pytest.mark.slow  # a real dagster-daemon; `pytest -m "not slow"` leaves it out

PROGRAM_A_HOURS = 6.0
SWITCH = SAMPLE_START + pd.Timedelta(hours=PROGRAM_A_HOURS)
FILE = pd.Timedelta(hours=1)
"""One program-B file: about 1,900 readings, enough for a baseline's model (1,000)."""
FAULT = SampleFault(
    "axis_2",
    1.8,
    SWITCH + 2 * FILE + pd.Timedelta(minutes=20),
    SWITCH + 2 * FILE + pd.Timedelta(minutes=35),
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[DaemonSite]:
    site = DaemonSite(tmp_path, f"sqlite:///{tmp_path / 'readings.db'}")
    # cusum, what the default mode (auto) picks for this idling robot: whether program B stays
    # quiet once learnt and the fault is caught is the detector's behaviour, not plumbing.
    site.settings["PM_DETECTOR_MODE"] = "cusum"
    site.prepare()
    yield site
    site.stop_all()


def query(site: DaemonSite, sql: str, **params: object) -> list[tuple]:
    with sa.create_engine(site.readings_url).connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(sql), params).all()]


def events_of(site: DaemonSite, source: str) -> pd.DataFrame:
    rows = query(
        site,
        "SELECT event_id, axis, start_ts, end_ts FROM pm_events WHERE source = :source",
        source=source,
    )
    frame = pd.DataFrame(rows, columns=["event_id", "axis", "start_ts", "end_ts"])
    for column in ("start_ts", "end_ts"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame.sort_values("start_ts", ignore_index=True)


def scored(site: DaemonSite, name: str) -> bool:
    """The file is archived and its partition's events are stored (materialized)."""
    if not archived(site, Path(name).stem):
        return False
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        records = instance.fetch_materializations(dg.AssetKey("file_events"), limit=20).records
    materializations = [r.asset_materialization for r in records if r.asset_materialization]
    names = [m.metadata.get("file_name") for m in materializations]
    return any(found is not None and found.value == name for found in names)


def land(site: DaemonSite, readings: pd.DataFrame, number: int) -> str:
    """Drop the ``number``-th hour of program B into the drop folder; its file name."""
    start = SWITCH + number * FILE
    part = readings[readings[TIME_COLUMN].between(start, start + FILE, inclusive="left")]
    name = f"program_b_{number}.csv"
    write_export(part, site.root / name)
    (site.root / name).replace(site.drop / name)
    wait_for(lambda: scored(site, name), 240, f"{name} to be scored", site.daemon_log)
    return name


def active_model_start(site: DaemonSite) -> pd.Timestamp | None:
    rows = query(site, "SELECT window_start FROM pm_model_registry WHERE is_active")
    return pd.Timestamp(rows[0][0], tz="UTC") if rows else None


def test_a_new_normal_retrains_the_robot_and_a_later_fault_is_still_caught(
    site: DaemonSite,
) -> None:
    readings = generate_robot_readings(PROGRAM_A_HOURS + 3, SAMPLE_START, seed=11)
    readings = inject_wear(switch_program(readings, SWITCH), FAULT)
    history = site.root / "program_a.csv"
    write_export(readings[readings[TIME_COLUMN] < SWITCH], history)
    site.run_here("ingest", str(history))
    site.run_here("train")
    assert active_model_start(site) == SAMPLE_START
    site.start_daemon()

    first = events_of(site, land(site, readings, 0))
    assert len(first) > 0, "program B looks new to a model of program A"
    event_id = int(first["event_id"].iloc[0])
    labelled = site.run_here("events", "label", str(event_id), "new-normal", "--by", "test")
    assert "labelled new-normal" in labelled.stdout

    baseline = first["start_ts"].iloc[0]
    wait_for(
        lambda: (active_model_start(site) or SAMPLE_START) >= baseline,
        300,
        "baseline_retraining_sensor's run to promote a model of program B",
        site.daemon_log,
    )
    assert events_of(site, land(site, readings, 1)).empty
    faulty = events_of(site, land(site, readings, 2))
    on_axis = faulty[faulty["axis"] == FAULT.axis]
    assert ((on_axis["start_ts"] <= FAULT.end) & (on_axis["end_ts"] >= FAULT.start)).any(), faulty

    # fleet_health follows the events and the label on its own (no one materializes it):
    # its status line is what `pm-pipeline fleet` says now.
    def health_status() -> str | None:
        with dg.DagsterInstance.from_config(str(site.home)) as instance:
            event = instance.get_latest_materialization_event(dg.AssetKey("fleet_health"))
        if event is None or event.asset_materialization is None:
            return None
        return str(event.asset_materialization.metadata["status"].value)

    listed = site.run_here("fleet").stdout.splitlines()[0]
    assert listed.startswith("FLEET ") and "STALE MODEL" not in listed
    wait_for(
        lambda: health_status() == listed,
        120,
        f"fleet_health to say {listed!r}",
        lambda: f"{health_status()}\n{site.daemon_log()}",
    )
