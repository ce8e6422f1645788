"""Chunked scoring gives exactly the events of one pass, wherever the chunks are cut."""

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pm_pipeline.core.detection.base import ReadingsOutOfOrder
from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.registry import detect_events, fit_model, stream_events
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.faults import inject, plan_injections
from pm_pipeline.core.simulation.sample import SAMPLE_START, generate_robot_readings

CUT = SAMPLE_START + pd.Timedelta(hours=6)


@pytest.fixture(scope="module")
def scenario() -> tuple:
    """A model with touchy thresholds (many short events, so many cross a boundary), scored
    readings with every fault kind injected and a data gap in the middle."""
    readings = generate_robot_readings(12, SAMPLE_START, seed=11)
    train = readings[readings[TIME_COLUMN] < CUT].reset_index(drop=True)
    scored = readings[readings[TIME_COLUMN] >= CUT].reset_index(drop=True)
    params = settings_for_mode(
        "robust",
        z_alert=1.0,
        z_error=1.5,
        min_sustain_samples=2,
        min_idle_sustain_samples=2,
        false_alarm_budget_per_h=200.0,
    )
    model = fit_model(train, fit_minmax_scaling(train), params)
    for fault in plan_injections(scored, per_kind=2, seed=5).to_dict("records"):
        scored, _ = inject(scored, fault["kind"], fault["axis"], fault["start"], fault["seed"])
    gap = (scored.index > 3000) & (scored.index < 3400)
    scored = scored[~gap].reset_index(drop=True)
    whole = detect_events(model, scored)
    return model, scored, whole


def chunked_events(model, readings: pd.DataFrame, cuts: list[int]) -> pd.DataFrame:
    detector = stream_events(model)
    bounds = [0, *sorted(set(cuts)), len(readings)]
    for start, end in itertools.pairwise(bounds):
        detector.push(readings.iloc[start:end])
    return events_in_order(detector.finish())


def assert_same_events(chunked: pd.DataFrame, whole: pd.DataFrame) -> None:
    # Same events, same boundaries, sample counts and severities; the statistics may differ
    # in the last bits, as a rolling sum restarted at a chunk rounds differently.
    pd.testing.assert_frame_equal(chunked, whole, check_exact=False, rtol=1e-9, atol=1e-12)


def test_scenario_has_events_that_span_many_chunks(scenario: tuple) -> None:
    _, _, whole = scenario
    assert len(whole) >= 30
    assert set(whole["severity"]) == {"ALERT", "ERROR"}
    assert whole["n_samples"].max() > 500


# Tiny chunks on a slice (a push has fixed overhead); big ones on everything.
@pytest.mark.parametrize(
    ("chunk_rows", "rows"),
    [(1, 600), (3, 1200), (17, 4000), (48, 8000), (1000, None), (10**6, None)],
)
def test_fixed_chunk_sizes_give_the_one_pass_events(
    scenario: tuple, chunk_rows: int, rows: int | None
) -> None:
    model, scored, whole = scenario
    readings = scored.iloc[:rows]
    expected = whole if rows is None else detect_events(model, readings)
    assert len(expected) >= 3
    cuts = list(range(chunk_rows, len(readings), chunk_rows))
    assert_same_events(chunked_events(model, readings, cuts), expected)


def test_cuts_inside_every_event_give_the_one_pass_events(scenario: tuple) -> None:
    model, scored, whole = scenario
    times = scored[TIME_COLUMN]
    # Cut one sample after each start and one before each end, where a carried run matters.
    starts = np.searchsorted(times, whole["start"]) + 1
    ends = np.searchsorted(times, whole["end"])
    cuts = [int(i) for i in np.r_[starts, ends] if 0 < i < len(scored)]
    assert_same_events(chunked_events(model, scored, cuts), whole)


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
    detector = stream_events(model)
    detector.push(scored.iloc[100:200])
    with pytest.raises(ReadingsOutOfOrder, match="backwards"):
        detector.push(scored.iloc[:100])


def test_the_open_tail_stays_small_in_normal_operation(scenario: tuple) -> None:
    model, scored, _ = scenario
    detector = stream_events(model)
    detector.push(scored.iloc[:5000])
    assert detector.pending_samples() < 5000
