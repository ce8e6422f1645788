"""The cusum mode: exact expectations on generated data, chunk-boundary equality, a floor on
the real export, its model JSON and the synthetic verification set."""

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from pm_pipeline.core.detection.conditioning import Predictor, over_spread
from pm_pipeline.core.detection.cusum import alarm_scale
from pm_pipeline.core.detection.cusum_fit import raw_scores
from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.registry import (
    detect_events,
    detector_for,
    fit_model,
    stream_events,
)
from pm_pipeline.core.evaluation.harness import SPLITS, hits, part, plan_faults, run_harness
from pm_pipeline.core.evaluation.harness_report import summarise
from pm_pipeline.core.evaluation.metrics import match_injections, recall
from pm_pipeline.core.model.params import CusumSettings, settings_for_mode
from pm_pipeline.core.model.trained import CusumChannel, fit_minmax_scaling, model_from_dict
from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import SAMPLE_START, generate_robot_readings
from pm_pipeline.core.simulation.synthetic import generate_synthetic_test_data
from pm_pipeline.core.simulation.wear import KINDS

CUT = SAMPLE_START + pd.Timedelta(hours=8)
FAULT_AT = CUT + pd.Timedelta(minutes=30)


@pytest.fixture(scope="module")
def generated() -> tuple:
    readings = generate_robot_readings(10, SAMPLE_START, seed=3)
    train = readings[readings[TIME_COLUMN] < CUT].reset_index(drop=True)
    scored = readings[readings[TIME_COLUMN] >= CUT].reset_index(drop=True)
    model = fit_model(train, fit_minmax_scaling(train), settings_for_mode("cusum"))
    return model, scored


# Before residuals were divided by their neighbours' spread, the two clean hours raised one
# false ALERT (the variance channel of axis_5, 53 samples, from this moment); now none. A
# ramp on axis_3, which axis_5 is predicted from, still lifts axis_5 there.
AXIS_5_ALERT = pd.Timestamp("2026-01-05T15:08:29.149Z")


def test_two_clean_hours_raise_no_event(generated) -> None:
    model, scored = generated
    assert detect_events(model, scored).empty


# One event on the faulty axis, of the expected severity (None: missed); found by hand on
# these seeds and kept as they are (a change in the detector shows up here). On this
# generated robot a ×1.3 step for 25 minutes stays below ALERT. A burst train of 20 minutes
# is caught at its seventh burst, twelve minutes in (surge channel, 10 samples).
@pytest.mark.parametrize(
    ("kind", "minutes", "severity", "elsewhere"),
    [
        ("step_1.3", 25, None, []),
        ("step_1.5", 20, "ALERT", []),
        ("step_1.8", 15, "ERROR", []),
        ("ramp", 60, "ERROR", [AXIS_5_ALERT]),
        ("bursts", 20, "ALERT", []),
        ("jitter", 20, "ALERT", []),
        ("stuck", 20, "ERROR", []),
        ("idle_offset", 20, "ERROR", []),
    ],
)
def test_each_fault_kind_gives_one_event_on_its_axis(
    generated, kind, minutes, severity, elsewhere
) -> None:
    model, scored = generated
    end = FAULT_AT + pd.Timedelta(minutes=minutes)
    injected, _ = KINDS[kind].inject(scored, "axis_3", FAULT_AT, end, np.random.default_rng(4))
    events = detect_events(model, injected)
    others = events[events["axis"] != "axis_3"]
    assert others["start"].tolist() == elsewhere
    found = events[events["axis"] == "axis_3"]
    assert found["severity"].tolist() == ([severity] if severity else [])
    if severity:
        assert found["start"].iloc[0] <= end and found["end"].iloc[0] >= FAULT_AT


def test_the_statistic_is_the_highest_accumulator_on_the_alert_and_error_scale(
    generated,
) -> None:
    model, scored = generated
    detector = detector_for("cusum")
    assert detector.statistic_levels(model, "axis_3") == (1.0, 2.0)
    clean = detector.statistic(model, scored)
    assert set(clean) == set(model.axis_names)
    # Below ALERT on every axis: the clean hours raise no event.
    assert all(frame["z"].max() < 1.0 for frame in clean.values())
    assert clean["axis_3"]["z"].min() >= 0.0
    end = FAULT_AT + pd.Timedelta(minutes=15)
    injected, _ = KINDS["step_1.8"].inject(
        scored, "axis_3", FAULT_AT, end, np.random.default_rng(4)
    )
    faulty = detector.statistic(model, injected)["axis_3"]
    before = faulty[faulty[TIME_COLUMN] < FAULT_AT]["z"]
    assert before.max() == pytest.approx(clean["axis_3"].loc[before.index, "z"].max())
    # An ERROR-severity step passes 2 and is capped at 3.
    assert faulty["z"].max() == pytest.approx(3.0)
    assert (faulty["z"] >= 2.0).any()


def test_alarm_scale_maps_the_alert_and_error_levels_to_1_and_2() -> None:
    channel = CusumChannel(0.0, 1.0, 0.25, 10.0, 30.0, 100, 0.0)
    s = np.array([0.0, 5.0, 10.0, 20.0, 30.0, 50.0])
    np.testing.assert_allclose(alarm_scale(s, channel), [0.0, 0.5, 1.0, 1.5, 2.0, 3.0])


def test_surge_and_variance_channels_are_the_level_score_again_and_squared(generated) -> None:
    model, _ = generated
    channels = model.axes["axis_2"].cusum or {}
    assert list(channels) == ["level", "spread", "surge", "variance", "idle", "flat"]
    level, surge, variance = channels["level"], channels["surge"], channels["variance"]
    assert (surge.center, surge.scale) == (level.center, level.scale)
    assert (level.reference, surge.reference, variance.reference) == (0.25, 0.75, 0.25)
    residual = np.array(
        [level.center, level.center + 2 * level.scale, level.center + 9 * level.scale]
    )
    raw = raw_scores(residual, level, clip=3.0)
    np.testing.assert_allclose(raw["surge"], residual)
    np.testing.assert_allclose(raw["spread"], [0.0, 2.0, 3.0])
    np.testing.assert_allclose(raw["variance"], [0.0, 4.0, 9.0])
    # A surge alarm needs fewer samples of a large rise than the level channel does.
    assert surge.h_alert < level.h_alert


def test_an_event_ends_near_the_end_of_a_step(generated) -> None:
    model, scored = generated
    end = FAULT_AT + pd.Timedelta(minutes=20)
    injected, _ = KINDS["step_1.8"].inject(
        scored, "axis_2", FAULT_AT, end, np.random.default_rng(0)
    )
    event = detect_events(model, injected).iloc[0]
    assert abs((event["end"] - end).total_seconds()) < 180


def test_the_model_round_trips_through_json_with_its_version(generated) -> None:
    model, scored = generated
    stored = json.loads(json.dumps(model.to_dict(), sort_keys=True))
    loaded = model_from_dict(stored)
    assert loaded.version == model.version and loaded.to_dict() == stored
    assert isinstance(loaded.params, CusumSettings)
    injected, _ = KINDS["step_1.5"].inject(
        scored, "axis_2", FAULT_AT, FAULT_AT + pd.Timedelta(minutes=20), np.random.default_rng(0)
    )
    pd.testing.assert_frame_equal(detect_events(loaded, injected), detect_events(model, injected))


def test_the_synthetic_set_catches_every_injected_error_run(generated) -> None:
    model, _ = generated
    synthetic = generate_synthetic_test_data(model, hours=6.0, seed=11)
    matched = match_injections(detect_events(model, synthetic.readings), synthetic.injected)
    assert recall(matched, "ERROR") == 1.0


@pytest.fixture(scope="module")
def scenario(generated) -> tuple:
    """Every fault kind, twice, in the scored hours, with a data gap in the middle."""
    model, scored = generated
    for fault in plan_faults(scored, seed=5, per_kind=1):
        rng = np.random.default_rng(fault.seed)
        scored, _ = KINDS[fault.kind].inject(scored, fault.axis, fault.start, fault.end, rng)
    scored = scored[(scored.index < 1500) | (scored.index > 1700)].reset_index(drop=True)
    return model, scored, detect_events(model, scored)


def chunked(model, readings: pd.DataFrame, cuts: list[int]) -> pd.DataFrame:
    stream = stream_events(model)
    for start, end in itertools.pairwise([0, *sorted(set(cuts)), len(readings)]):
        stream.push(readings.iloc[start:end])
    return events_in_order(stream.finish())


def same(chunks: pd.DataFrame, whole: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(chunks, whole, check_exact=False, rtol=1e-9, atol=1e-12)


def test_the_scenario_has_events_of_both_severities(scenario) -> None:
    _, _, whole = scenario
    assert len(whole) >= 5 and set(whole["severity"]) == {"ALERT", "ERROR"}


@pytest.mark.parametrize("rows", [1, 7, 250, 1000])
def test_fixed_chunks_give_the_one_pass_events(scenario, rows: int) -> None:
    model, scored, whole = scenario
    # Small chunks on 610 of the 3,800 readings (a one-reading push costs about 10 ms):
    # axis_1's whole event, then the gap the scenario cut.
    readings = scored if rows >= 250 else scored.iloc[950:1560].reset_index(drop=True)
    expected = whole if rows >= 250 else detect_events(model, readings)
    assert len(expected) >= 1
    same(chunked(model, readings, list(range(rows, len(readings), rows))), expected)


def test_cuts_inside_every_event_give_the_one_pass_events(scenario) -> None:
    model, scored, whole = scenario
    times = scored[TIME_COLUMN]
    starts = np.searchsorted(times, whole["start"]) + 1
    ends = np.searchsorted(times, whole["end"])
    cuts = [int(i) for i in np.r_[starts, ends] if 0 < i < len(scored)]
    same(chunked(model, scored, cuts), whole)


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_random_cuts_give_the_one_pass_events(scenario, data: st.DataObject) -> None:
    model, scored, whole = scenario
    cuts = data.draw(st.lists(st.integers(1, len(scored) - 1), min_size=1, max_size=30))
    same(chunked(model, scored, cuts), whole)


def test_the_open_tail_stays_small_in_normal_operation(generated) -> None:
    model, scored = generated
    stream = stream_events(model)
    stream.push(scored)
    # Summed over the axes: six channels (v2) are all at 0 together less often than four
    # were; 1118 held here, under a twentieth of each axis' readings on average.
    axes = len(model.axis_names)
    assert stream.pending_samples() < axes * len(scored) // 20


def test_real_export_floor(real_export: Path) -> None:
    """Measured on this split and seed (2026-12-04, residuals over their neighbours'
    spread): recall 1.00 (all eight kinds), two false events on the clean 6.7 h (0.30 per
    hour; over all four splits and seeds 1–5, 0.08 per hour). v2 caught all eight with one
    false event here; version 1 caught 0.75 (step ×1.3 and jitter missed). Every kind is
    caught; the false-event bound leaves room for noise."""
    readings = read_export(real_export)
    faults, clean = run_harness(
        readings, {"cusum": CusumSettings()}, seeds=[7], per_kind=1, splits=SPLITS[1:2]
    )
    table = summarise(faults, clean)["cusum"]
    assert table["recall, all faults"] == 1.0
    assert table["false events per hour, clean"] <= 0.35
    assert table["live feed recall - whole-file recall"] == 0.0
    assert table["median minutes to detect"] <= 2.0
    for kind in KINDS:
        assert table[f"recall, {kind}"] == 1.0, kind


def test_real_export_events_agree_and_never_span_a_gap(real_export: Path) -> None:
    readings = read_export(real_export)
    train, scored = part(readings, (0.0, 0.7)), part(readings, (0.7, 1.0))
    model = fit_model(train, fit_minmax_scaling(train), CusumSettings())
    fault = next(f for f in plan_faults(scored, seed=3, per_kind=1) if f.kind == "step_1.8")
    injected, _ = KINDS[fault.kind].inject(
        scored, fault.axis, fault.start, fault.end, np.random.default_rng(0)
    )
    events = detect_events(model, injected)
    assert len(hits(events, fault)) == 1
    np.testing.assert_allclose(events["p_value"], norm.sf(events["z_mean"]))
    assert (events["z_peak"] >= events["z_mean"] - 1e-9).all()
    assert (events["z_mean"] >= model.params.z_alert - 1e-9).all()
    assert (events.loc[events["severity"] == "ERROR", "z_peak"] >= model.params.z_error).all()
    times = injected[TIME_COLUMN]
    gap_ends = times[times.diff().dt.total_seconds() > model.params.gap_factor * model.dt_s]
    for event in events.itertuples():
        assert not ((gap_ends > event.start) & (gap_ends <= event.end)).any()


def test_residuals_are_divided_by_their_neighbours_spread_floored(generated) -> None:
    model, scored = generated
    conditioning = model.conditioning
    assert conditioning is not None and conditioning.spread_floor is not None
    assert set(conditioning.spread_floor) == set(model.axis_names)
    assert all(floor > 0 for floor in conditioning.spread_floor.values())
    np.testing.assert_allclose(
        over_spread(np.array([0.3, 0.3, -0.8]), np.array([0.0, 0.4, 0.0]), 0.3),
        [1.0, 0.6, -0.8 / 0.3],
    )
    predictor = Predictor(conditioning)
    features = predictor.features(scored)
    amperes = scored["axis_2"].to_numpy(dtype="float64")
    residual, spread = predictor.residual_parts("axis_2", amperes, features)
    np.testing.assert_allclose(
        residual, predictor.target("axis_2", amperes) - predictor.predict("axis_2", features)
    )
    np.testing.assert_allclose(
        predictor.residual("axis_2", amperes, features),
        residual / np.sqrt(spread**2 + conditioning.spread_floor["axis_2"] ** 2),
    )


def test_a_model_fitted_without_the_spread_floor_scores_undivided_residuals(generated) -> None:
    _, scored = generated
    readings = generate_robot_readings(10, SAMPLE_START, seed=3)
    train = readings[readings[TIME_COLUMN] < CUT].reset_index(drop=True)
    model = fit_model(train, fit_minmax_scaling(train), CusumSettings(spread_floor_share=None))
    assert model.conditioning is not None and model.conditioning.spread_floor is None
    stored = model.to_dict()
    assert "spread_floor" not in stored["conditioning"]
    assert "spread_floor_share" not in stored["params"]
    predictor = Predictor(model.conditioning)
    features = predictor.features(scored)
    amperes = scored["axis_4"].to_numpy(dtype="float64")
    np.testing.assert_allclose(
        predictor.residual("axis_4", amperes, features),
        predictor.residual_parts("axis_4", amperes, features)[0],
    )
