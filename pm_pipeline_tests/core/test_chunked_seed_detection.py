"""Seed-mode streaming gives exactly the events of the one-pass seed scorer, wherever the
chunks are cut: open runs are carried across chunks and never span a data gap."""

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pm_pipeline.core.detection.base import ReadingsOutOfOrder
from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.registry import detect_events, fit_model, stream_events
from pm_pipeline.core.detection.seed import detect_events_seed
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import MinMaxScaling, TrainedModel, fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.faults import inject, plan_injections
from pm_pipeline.core.simulation.sample import SAMPLE_START, generate_robot_readings

CUT = SAMPLE_START + pd.Timedelta(hours=6)


@pytest.fixture(scope="module")
def scenario() -> tuple[TrainedModel, pd.DataFrame, pd.DataFrame]:
    """A seed model (long sustain floor off, so events are many and short and long ones
    mix), scored readings with every fault kind, a data gap, and a blank stretch on one axis
    (a gap for that axis only)."""
    readings = generate_robot_readings(10, SAMPLE_START, seed=13)
    train = readings[readings[TIME_COLUMN] < CUT].reset_index(drop=True)
    scored = readings[readings[TIME_COLUMN] >= CUT].reset_index(drop=True)
    model = fit_model(train, fit_minmax_scaling(train), SeedSettings(min_sustain_samples=2))
    for fault in plan_injections(scored, per_kind=2, seed=3).to_dict("records"):
        scored, _ = inject(scored, fault["kind"], fault["axis"], fault["start"], fault["seed"])
    scored = scored[~((scored.index > 2500) & (scored.index < 2800))].reset_index(drop=True)
    scored.loc[4000:4300, "axis_2"] = np.nan
    whole = events_in_order(detect_events_seed(model, scored))
    return model, scored, whole


def chunked_events(model: TrainedModel, readings: pd.DataFrame, cuts: list[int]) -> pd.DataFrame:
    stream = stream_events(model)
    bounds = [0, *sorted(set(cuts)), len(readings)]
    for start, end in itertools.pairwise(bounds):
        stream.push(readings.iloc[start:end])
    return events_in_order(stream.finish())


def assert_same_events(chunked: pd.DataFrame, whole: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(chunked, whole, check_exact=False, rtol=1e-9, atol=1e-12)


def test_scenario_has_events_that_span_chunks_and_gaps(scenario: tuple) -> None:
    model, scored, whole = scenario
    assert len(whole) >= 30
    assert set(whole["severity"]) == {"ALERT", "ERROR"}
    assert whole["n_samples"].max() >= 20
    gap_s = model.params.gap_factor * model.dt_s
    assert scored[TIME_COLUMN].diff().dt.total_seconds().max() > gap_s


def test_the_registry_scores_seed_models_through_the_stream(scenario: tuple) -> None:
    model, scored, whole = scenario
    assert_same_events(detect_events(model, scored), whole)


@pytest.mark.parametrize(
    ("chunk_rows", "rows"),
    [(1, 400), (2, 900), (7, 2000), (50, None), (1000, None), (10**6, None)],
)
def test_fixed_chunk_sizes_give_the_one_pass_events(
    scenario: tuple, chunk_rows: int, rows: int | None
) -> None:
    model, scored, whole = scenario
    readings = scored.iloc[:rows]
    expected = whole if rows is None else events_in_order(detect_events_seed(model, readings))
    assert len(expected) >= 2
    cuts = list(range(chunk_rows, len(readings), chunk_rows))
    assert_same_events(chunked_events(model, readings, cuts), expected)


def test_cuts_inside_every_event_give_the_one_pass_events(scenario: tuple) -> None:
    model, scored, _ = scenario
    # Seed events are many: a slice across the data gap keeps this quick.
    readings = scored.iloc[:3000]
    whole = events_in_order(detect_events_seed(model, readings))
    assert len(whole) >= 30
    times = readings[TIME_COLUMN]
    # Cut one sample after each start and one before each end, where a carried run matters.
    starts = np.searchsorted(times, whole["start"]) + 1
    ends = np.searchsorted(times, whole["end"])
    cuts = [int(i) for i in np.r_[starts, ends] if 0 < i < len(readings)]
    assert_same_events(chunked_events(model, readings, cuts), whole)


def test_a_run_cut_at_a_data_gap_is_not_joined() -> None:
    model = fit_model(*_flat_training(), SeedSettings(min_sustain_samples=2))
    times = pd.Timestamp(model.window_end) + pd.to_timedelta(
        np.r_[np.arange(1, 4), np.arange(100, 103)] * model.dt_s, unit="s"
    )
    high = _rows(times, 1.0)
    whole = events_in_order(detect_events_seed(model, high))
    assert len(whole) and set(whole["n_samples"]) == {3}
    for cut in range(1, len(high)):
        assert_same_events(chunked_events(model, high, [cut]), whole)


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_random_cuts_give_the_one_pass_events(scenario: tuple, data: st.DataObject) -> None:
    model, scored, whole = scenario
    cuts = data.draw(st.lists(st.integers(1, len(scored) - 1), min_size=1, max_size=40))
    assert_same_events(chunked_events(model, scored, cuts), whole)


def test_a_chunk_that_goes_back_in_time_is_refused(scenario: tuple) -> None:
    model, scored, _ = scenario
    stream = stream_events(model)
    stream.push(scored.iloc[100:200])
    with pytest.raises(ReadingsOutOfOrder, match="backwards"):
        stream.push(scored.iloc[:100])


def test_only_open_runs_are_held_back(scenario: tuple) -> None:
    model, scored, _ = scenario
    stream = stream_events(model)
    stream.push(scored.iloc[:3000])
    assert stream.pending_samples() < 50


def _rows(times: pd.Series | pd.DatetimeIndex, level: float) -> pd.DataFrame:
    frame = pd.DataFrame({TIME_COLUMN: pd.Series(times).reset_index(drop=True)})
    for number in range(1, 9):
        frame[f"axis_{number}"] = level
    return frame


def _flat_training() -> tuple[pd.DataFrame, MinMaxScaling]:
    rng = np.random.default_rng(0)
    times = pd.Series(SAMPLE_START + pd.to_timedelta(np.arange(200) * 2.0, unit="s"))
    train = _rows(times, 0.0)
    for number in range(1, 9):
        train[f"axis_{number}"] = rng.normal(0.5, 0.05, len(train))
    return train, fit_minmax_scaling(train)
