"""A retrained model is held quiet on what the engineer labelled normal: the seed recipe's
sustain time rises past the labelled stretch's runs on that axis only; the budget-calibrated
modes are left as fitted."""

import pandas as pd

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.feedback.calibration import (
    labelled_normal_of,
    labelled_normal_spans,
    with_labelled_normal,
)
from pm_pipeline.core.model.params import CusumSettings, SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling


def labelled(readings: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """``readings`` carrying ``events`` as labelled false alarms, as training reads them."""
    newest = pd.DataFrame(
        {
            "event_id": range(len(events)),
            "axis": events["axis"],
            "event_start": events["start"],
            "event_end": events["end"],
            "label": "false-alarm",
            "labelled_at": pd.Timestamp("2026-01-01", tz="UTC"),
        }
    )
    times = readings["timestamp_recorded"]
    spans = labelled_normal_spans(newest, times.iloc[0], times.iloc[-1])
    return with_labelled_normal(readings.copy(), spans)


def test_a_seed_model_raises_nothing_where_its_false_alarms_were_labelled(
    robot_day: pd.DataFrame,
) -> None:
    scaling = fit_minmax_scaling(robot_day)
    plain = fit_model(robot_day, scaling, SeedSettings())
    found = detect_events(plain, robot_day)
    axis = found["axis"].value_counts().index[0]
    false_alarms = found[found["axis"] == axis]
    assert len(false_alarms) > 3  # the recipe flags a share of its own training runs

    quiet = fit_model(labelled(robot_day, false_alarms), scaling, SeedSettings())
    assert quiet.version != plain.version
    again = detect_events(quiet, robot_day)
    for event in false_alarms.itertuples():
        overlapping = again[
            (again["axis"] == axis) & (again["start"] <= event.end) & (again["end"] >= event.start)
        ]
        assert overlapping.empty, f"{axis} flags the labelled {event.start} again"
    assert quiet.axes[axis].thresholds.sustain_samples > plain.axes[axis].thresholds.sustain_samples
    for other, fitted in plain.axes.items():
        if other != axis:
            assert quiet.axes[other] == fitted


def test_budget_calibrated_modes_and_unlabelled_windows_fit_as_before(
    robot_day: pd.DataFrame,
) -> None:
    day = robot_day.iloc[:4000]
    scaling = fit_minmax_scaling(day)
    cusum = fit_model(day, scaling, CusumSettings())
    span = pd.DataFrame(
        {"axis": ["axis_1"], "start": [day.iloc[100, 0]], "end": [day.iloc[200, 0]]}
    )
    assert fit_model(labelled(day, span), scaling, CusumSettings()).version == cusum.version
    assert labelled_normal_of(day).empty
    seed = fit_model(day, scaling, SeedSettings())
    nothing = labelled(day, span.iloc[0:0])
    assert labelled_normal_of(nothing).empty
    assert fit_model(nothing, scaling, SeedSettings()).version == seed.version
