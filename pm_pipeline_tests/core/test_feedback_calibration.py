"""A retrained model does not flag again what the engineer labelled normal: the seed recipe's
sustain time rises past the labelled stretch's runs on that axis only; the cusum recipe
allows the shift the labelled stretch showed on that axis; a window without labels fits as
before."""

import pandas as pd

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.feedback.calibration import (
    labelled_normal_of,
    labelled_normal_spans,
    with_labelled_normal,
)
from pm_pipeline.core.model.params import CusumSettings, SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.programs import switch_program
from pm_pipeline.core.simulation.sample import SAMPLE_START, generate_robot_readings


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


def test_a_cusum_model_retrained_with_its_false_alarms_allows_the_shift_they_showed() -> None:
    # Four hours of program A train the first model; the robot switches to program B; the
    # first model's events in B's first hour are labelled false alarms, and the robot
    # retrains on all five hours. B's next two hours carry the same shift on.
    switch = SAMPLE_START + pd.Timedelta(hours=4)
    cut = switch + pd.Timedelta(hours=1)
    readings = switch_program(generate_robot_readings(7.0, SAMPLE_START, seed=3), switch)
    times = readings[TIME_COLUMN]
    first_window = readings[times < switch].reset_index(drop=True)
    window = readings[times < cut].reset_index(drop=True)
    feedback = readings[(times >= switch) & (times < cut)].reset_index(drop=True)
    later = readings[times >= cut].reset_index(drop=True)
    first = fit_model(first_window, fit_minmax_scaling(first_window), CusumSettings())
    false_alarms = detect_events(first, feedback)
    axes = set(false_alarms["axis"])
    assert "axis_3" in axes

    scaling = fit_minmax_scaling(window)
    plain = fit_model(window, scaling, CusumSettings())
    again = detect_events(plain, later)
    # Back in training, the readings lift the thresholds over the labelled hour, but the
    # shift persists and alarms again after longer than the hour showed.
    assert again["axis"].isin(axes).any()

    allowing = fit_model(labelled(window, false_alarms), scaling, CusumSettings())
    for scored in (feedback, later):
        found = detect_events(allowing, scored)
        assert not found["axis"].isin(axes).any(), found
    level, plain_level = allowing.axes["axis_3"].cusum, plain.axes["axis_3"].cusum
    assert level is not None and plain_level is not None
    assert level["level"].reference > plain_level["level"].reference
    for axis, fitted in plain.axes.items():
        if axis not in axes:
            assert allowing.axes[axis] == fitted
    # Not deaf: a rise of half the current on top of program B is still flagged.
    worn = later.copy()
    inside = (worn[TIME_COLUMN] >= cut + pd.Timedelta(minutes=30)) & (
        worn[TIME_COLUMN] < cut + pd.Timedelta(minutes=70)
    )
    worn.loc[inside, "axis_3"] *= 1.5
    assert (detect_events(allowing, worn)["axis"] == "axis_3").any()


def test_unlabelled_windows_fit_as_before(robot_day: pd.DataFrame) -> None:
    day = robot_day.iloc[:4000]
    scaling = fit_minmax_scaling(day)
    span = pd.DataFrame(
        {"axis": ["axis_1"], "start": [day.iloc[100, 0]], "end": [day.iloc[200, 0]]}
    )
    assert labelled_normal_of(day).empty
    nothing = labelled(day, span.iloc[0:0])
    assert labelled_normal_of(nothing).empty
    for settings in (CusumSettings(), SeedSettings()):
        assert (
            fit_model(nothing, scaling, settings).version
            == fit_model(day, scaling, settings).version
        )
    cusum = fit_model(day, scaling, CusumSettings())
    one_axis = fit_model(labelled(day, span), scaling, CusumSettings())
    assert {axis for axis in cusum.axes if one_axis.axes[axis] != cusum.axes[axis]} <= {"axis_1"}
