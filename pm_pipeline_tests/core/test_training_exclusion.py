"""Which training readings a stored event leaves out, and what the fit makes of the hole."""

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.model.exclusion import (
    EXCLUDED_READINGS_ATTR,
    exclude_flagged,
    excluded_readings,
    flagged_rows,
    widened_spans,
)
from pm_pipeline.core.model.params import RobustSettings
from pm_pipeline.core.model.timeaxis import gap_breaks, seconds_since
from pm_pipeline.core.model.trained import fit_minmax_scaling, model_from_dict
from pm_pipeline.core.schema import AXES, TIME_COLUMN

START = pd.Timestamp("2026-01-05T00:00:00Z")


def every_two_seconds(count: int) -> pd.DataFrame:
    times = START + pd.to_timedelta(np.arange(count) * 2.0, unit="s")
    return pd.DataFrame({TIME_COLUMN: pd.Series(times).dt.as_unit("us")} | dict.fromkeys(AXES, 1.0))


def events(*spans: tuple[float, float]) -> pd.DataFrame:
    """Events from (start, end) in seconds after START."""
    return pd.DataFrame(
        {
            "start_ts": [START + pd.Timedelta(seconds=start) for start, _ in spans],
            "end_ts": [START + pd.Timedelta(seconds=end) for _, end in spans],
        }
    )


def test_rows_inside_an_event_widened_by_the_margin_are_left_out() -> None:
    readings = every_two_seconds(100)  # 0, 2, …, 198 s
    kept, exclusion = exclude_flagged(readings, events((40, 50)), margin_s=6)
    # [34 s, 56 s], bounds included: the readings at 34, 36, …, 56 s.
    left_out = sorted(set(readings[TIME_COLUMN]) - set(kept[TIME_COLUMN]))
    assert left_out == [START + pd.Timedelta(seconds=s) for s in range(34, 57, 2)]
    assert exclusion.readings == 12 and len(kept) == 88
    assert kept.index.tolist() == list(range(88))
    assert kept.attrs[EXCLUDED_READINGS_ATTR] == 12 and excluded_readings(kept) == 12
    assert excluded_readings(readings) == 0


def test_overlapping_widened_events_merge_and_a_zero_margin_keeps_the_bounds() -> None:
    spans = widened_spans(events((100, 110), (10, 20), (25, 30)), pd.Timedelta(seconds=5))
    assert spans["start"].tolist() == [START + pd.Timedelta(seconds=s) for s in (5, 95)]
    assert spans["end"].tolist() == [START + pd.Timedelta(seconds=s) for s in (35, 115)]
    assert spans["events"].tolist() == [2, 1]
    times = every_two_seconds(100)[TIME_COLUMN]
    exact = flagged_rows(times, widened_spans(events((11, 14)), pd.Timedelta(0)))
    assert np.flatnonzero(exact).tolist() == [6, 7]  # 12 s and 14 s; 10 s lies before it


def test_no_events_leave_everything_in() -> None:
    readings = every_two_seconds(10)
    kept, exclusion = exclude_flagged(readings, events(), margin_s=300)
    assert len(kept) == 10 and exclusion.readings == 0 and exclusion.spans.empty
    nothing, _ = exclude_flagged(readings.iloc[0:0], events((0, 10)), margin_s=0)
    assert nothing.empty


def test_the_hole_is_a_data_gap_to_the_fit_and_the_model_records_it(
    robot_day: pd.DataFrame,
) -> None:
    middle = robot_day[TIME_COLUMN].iloc[len(robot_day) // 2]
    flagged = pd.DataFrame({"start_ts": [middle], "end_ts": [middle + pd.Timedelta(minutes=20)]})
    kept, exclusion = exclude_flagged(robot_day, flagged, margin_s=300)
    model = fit_model(kept, fit_minmax_scaling(kept), RobustSettings(), exclusion.readings)
    assert model.excluded_row_count == exclusion.readings > 0
    assert model.row_count == len(kept) == len(robot_day) - exclusion.readings
    assert model_from_dict(model.to_dict()) == model
    # The first reading after the hole follows a data gap: windows restart, runs split.
    times = kept[TIME_COLUMN]
    breaks = gap_breaks(seconds_since(times, times.iloc[0]), model.dt_s, model.params.gap_factor)
    after_hole = int(np.flatnonzero(times > middle)[0])
    assert breaks[after_hole]
    assert (times.iloc[after_hole] - times.iloc[after_hole - 1]) >= pd.Timedelta(minutes=30)
    unrecorded = fit_model(kept, fit_minmax_scaling(kept), RobustSettings())
    assert unrecorded.axes == model.axes and "excluded_row_count" not in unrecorded.to_dict()
    assert unrecorded.version != model.version
