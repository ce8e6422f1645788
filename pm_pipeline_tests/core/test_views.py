from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.core.views.health import (
    count_events_over_time,
    find_one_minute_peak,
    measure_data_health,
    rank_top_events,
    summarise_axes,
)
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.readings import read_readings
from pm_pipeline.db.schema import readings_table


def test_real_export_health_matches_the_known_figures(real_export: Path) -> None:
    health = measure_data_health(read_export(real_export))
    assert health.rows == 39_672
    assert round(health.idle_share * 100, 1) == 64.2
    long_gaps = health.gaps[health.gaps["seconds"] > 10]
    assert len(long_gaps) == 6
    assert health.gaps["seconds"].max() == pytest.approx(402.5, abs=0.05)
    assert health.cadence_median_s == pytest.approx(1.891)
    assert all(share == 0 for share in health.null_share.values())
    assert health.readings_per_hour.sum() == 39_672


def tiny() -> pd.DataFrame:
    """Four readings 2 s apart, then one after a 100 s gap; axis_1 active, axis_2 NULL once."""
    seconds = [0, 2, 4, 6, 106]
    frame = pd.DataFrame(
        {TIME_COLUMN: pd.Timestamp("2024-01-01T00:00:00Z") + pd.to_timedelta(seconds, unit="s")}
    )
    for axis in AXES:
        frame[axis] = 0.0
    frame["axis_1"] = [1.0, 2.0, 0.0, 4.0, 3.0]
    frame["axis_2"] = [0.0, np.nan, 5.0, 0.0, 0.0]
    return frame


def test_axis_summary_by_hand() -> None:
    summary = {row["axis"]: row for row in summarise_axes(tiny()).to_dict("records")}
    first = summary["axis_1"]
    assert (first["min_A"], first["max_A"], first["mean_A"]) == (0.0, 4.0, 2.0)
    assert first["active_share"] == pytest.approx(0.8)
    # Each reading holds until the next one, at most 3 cadences (6 s); the last holds 2 s.
    assert first["active_ampere_seconds"] == pytest.approx(1 * 2 + 2 * 2 + 0 * 2 + 4 * 6 + 3 * 2)
    assert first["latest_A"] == 3.0
    second = summary["axis_2"]
    assert second["active_share"] == pytest.approx(0.25)  # NULL is not counted
    health = measure_data_health(tiny())
    assert health.null_share["axis_2"] == pytest.approx(0.2)
    assert health.idle_share == pytest.approx(0.0)
    assert health.gaps["seconds"].tolist() == [100.0]


def test_one_minute_peak_looks_at_the_last_minute_only() -> None:
    # The 4 A reading at 6 s is 100 s before the newest one, so it is out of the window.
    assert find_one_minute_peak(tiny()) == ("axis_1", 3.0, pd.Timestamp("2024-01-01T00:01:46Z"))


def test_events_over_time_and_top_events() -> None:
    start = pd.Timestamp("2024-01-01T00:00:00Z")
    events = pd.DataFrame(
        {
            "event_id": [1, 2, 3],
            "axis": ["axis_1", "axis_1", "axis_2"],
            "severity": ["ALERT", "ERROR", "ALERT"],
            "start_ts": [start, start + pd.Timedelta(minutes=70), start + pd.Timedelta(minutes=5)],
            "end_ts": [start, start, start],
            "z_peak": [2.0, 4.0, 3.0],
            "p_value": [0.1] * 3,
            "model_version": ["v1", "v1", "v2"],
            "source": ["a"] * 3,
        }
    )
    counts = count_events_over_time(events)
    assert counts.loc[start, "axis_1/ALERT"] == 1 and counts.loc[start, "axis_2/ALERT"] == 1
    assert counts.loc[start + pd.Timedelta(hours=1), "axis_1/ERROR"] == 1
    assert rank_top_events(events, 2)["event_id"].tolist() == [2, 3]


def test_same_figures_from_either_database(database_url: str, real_export: Path) -> None:
    from_file = read_export(real_export)
    engine, table = open_engine(database_url), readings_table()
    ingest_readings(engine, table, from_file, "r1", "real", "x")
    stored = read_readings(engine, table, "r1")
    pd.testing.assert_frame_equal(summarise_axes(stored), summarise_axes(from_file))
    assert measure_data_health(stored).figures().equals(measure_data_health(from_file).figures())
