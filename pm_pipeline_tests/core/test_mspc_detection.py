"""The mspc mode and the auto default on machines that run on: falls, signs, drift, one
slow channel, chunks, stored models, and events that name their channels."""

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pm_pipeline.core.detection.auto import idle_share
from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.registry import detect_events, fit_model, stream_events
from pm_pipeline.core.evaluation.continuous import Planted, caught_by, plant, slow_series
from pm_pipeline.core.model.params import AutoSettings, MspcSettings, settings_for_mode
from pm_pipeline.core.model.trained import TrainedModel, fit_minmax_scaling, model_from_dict
from pm_pipeline.core.schema import AXES, CONTEXT_COLUMNS, TIME_COLUMN
from pm_pipeline.core.simulation.sample import SAMPLE_START, generate_robot_readings

START = pd.Timestamp("2026-03-02 06:00", tz="UTC")


def pump(hours: float, seed: int, drift_per_h: float = 0.0) -> pd.DataFrame:
    """A machine that never idles, at 1 s: a load that wanders slowly, a current that
    follows it, a signed torque current that swings through 0, a pressure and a flow tied
    to the load, and a context temperature. ``drift_per_h`` (in σ of the noise) moves the
    current's operating point slowly, as normal ageing of a sensor would."""
    rng = np.random.default_rng(seed)
    count = int(hours * 3600)
    seconds = np.arange(count, dtype="float64")
    load = np.sin(2 * np.pi * seconds / 900.0) + 0.3 * np.sin(2 * np.pi * seconds / 137.0)
    noise = rng.standard_normal((count, 4)) * 0.05
    frame = pd.DataFrame({TIME_COLUMN: START + pd.to_timedelta(seconds, unit="s")})
    frame["axis_1"] = 3.0 + 0.5 * load + noise[:, 0] + drift_per_h * 0.05 * seconds / 3600
    frame["axis_2"] = 1.5 * load + noise[:, 1]  # signed: negative half of the time
    frame["axis_3"] = 2.0 + 0.4 * load + noise[:, 2]
    frame["axis_4"] = 30.0 - 4.0 * load + noise[:, 3] * 10
    for axis in AXES[4:]:
        frame[axis] = np.nan
    frame[CONTEXT_COLUMNS[0]] = 45.0 + 0.8 * load
    return frame


@pytest.fixture(scope="module")
def machine() -> tuple:
    readings = pump(3.0, seed=4)
    train, scored = readings.iloc[:3600].reset_index(drop=True), readings.iloc[3600:]
    model = fit_model(train, fit_minmax_scaling(train), MspcSettings())
    return model, train, scored.reset_index(drop=True)


def planted_events(model, scored: pd.DataFrame, fault: Planted, sigma: float) -> pd.DataFrame:
    return caught_by(detect_events(model, plant(scored, fault, sigma)), fault)


def test_clean_readings_of_a_machine_that_runs_on_raise_no_event(machine) -> None:
    model, _, scored = machine
    assert model.mspc is not None and model.mspc.method == "relations"
    assert model.mspc.context == ["context_1"]
    assert detect_events(model, scored).empty


def test_readings_with_a_channel_missing_are_left_unscored(machine) -> None:
    model, _, scored = machine
    gappy = scored.copy()
    gappy.loc[gappy.index[500:900], ["axis_1", "axis_2"]] = np.nan
    assert detect_events(model, gappy).empty


def test_a_falling_channel_is_caught_and_named(machine) -> None:
    model, train, scored = machine
    start = scored[TIME_COLUMN].iloc[2000]
    fault = Planted("fall", "axis_3", start, start + pd.Timedelta(minutes=5), 3.0)
    hits = planted_events(model, scored, fault, float(train["axis_3"].std()))
    assert len(hits) == 1
    assert hits["axis"].iloc[0] == "axis_3"
    shares = json.loads(hits["contributions"].iloc[0])
    assert next(iter(shares)) == "axis_3"
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)


def test_a_channel_far_out_of_range_does_not_spill_into_the_others(machine) -> None:
    # A 30-σ rise on axis_4 is far outside its training range; the other channels'
    # predictions hold it at that range, so the event is axis_4's (unclipped: 91%).
    model, train, scored = machine
    start = scored[TIME_COLUMN].iloc[2000]
    fault = Planted("rise", "axis_4", start, start + pd.Timedelta(minutes=10), 30.0)
    [shares] = planted_events(model, scored, fault, float(train["axis_4"].std()))[
        "contributions"
    ].map(json.loads)
    assert next(iter(shares)) == "axis_4" and shares["axis_4"] >= 0.98


def test_a_signed_channel_keeps_its_sign(machine) -> None:
    model, _, scored = machine
    assert model.mspc is not None and model.mspc.center["axis_2"] < 0.5
    # the torque current turns the other way for ten minutes: its magnitude is as usual,
    # only its sign is wrong, which a model of |I| cannot see
    flipped = scored.copy()
    window = flipped.index[3000:3600]
    flipped.loc[window, "axis_2"] = -flipped.loc[window, "axis_2"]
    events = detect_events(model, flipped)
    assert len(events) >= 1
    assert set(events["axis"]) == {"axis_2"}


def test_slow_drift_of_normal_operation_raises_no_event() -> None:
    # the current's operating point creeps up by 2 σ of its noise an hour for five hours:
    # ageing that the baseline follows, not a fault
    readings = pump(6.0, seed=8, drift_per_h=2.0)
    train, scored = readings.iloc[:3600], readings.iloc[3600:]
    model = fit_model(train, fit_minmax_scaling(train), MspcSettings())
    assert detect_events(model, scored).empty


def test_one_slow_channel_trains_and_finds_an_overheating() -> None:
    readings = slow_series(days=28, cadence_s=300, seed=2)
    train, scored = readings.iloc[:4032], readings.iloc[4032:].reset_index(drop=True)
    model = fit_model(train, fit_minmax_scaling(train), AutoSettings())
    assert model.params.mode == "mspc" and model.mspc is not None
    assert model.mspc.method == "level"
    assert model.selection == "auto chose mspc: one channel"
    assert detect_events(model, scored).empty
    start = scored[TIME_COLUMN].iloc[3000]
    fault = Planted("rise", "axis_1", start, start + pd.Timedelta(hours=8), 8.0 / 1.43)
    assert len(planted_events(model, scored, fault, 1.43)) == 1


def offset(scored: pd.DataFrame, axis: str, steps: list[tuple[int, int, float, float]]):
    """``scored`` with ``axis`` moved, over each (first row, end row, from, to), by an offset
    going linearly from ``from`` to ``to``."""
    moved = np.zeros(len(scored))
    for low, high, begin, end in steps:
        moved[low:high] = np.linspace(begin, end, high - low)
    out = scored.copy()
    out[axis] = out[axis] + moved
    return out


AFTERMATH = [(2000, 2600, 0.6, 0.6), (2600, 3200, 0.2, 0.2), (3200, 4400, 0.2, 0.0)]
"""axis_3 rises 12 σ of its noise for 10 minutes, comes back to 4 σ and stays there for 10
minutes, then recovers over 20: the aftermath of a fault, as a pump whose temperature or
vibration takes its time to return to normal."""


def test_a_level_held_after_a_fault_is_reported_once_then_adopted(machine) -> None:
    model, train, scored = machine
    faulty = offset(scored, "axis_3", AFTERMATH)
    events = detect_events(model, faulty)
    times = scored[TIME_COLUMN]
    assert len(events) == 1 and events["axis"].iloc[0] == "axis_3"
    # the event ends once the level has come back and held for one EWMA span, and the way
    # on back to normal raises nothing
    assert times.iloc[2000] <= events["start"].iloc[0] <= times.iloc[2010]
    assert times.iloc[2600] < events["end"].iloc[0] <= times.iloc[2600 + 3 * 20]
    # without it the held baseline keeps the alarm up through the whole aftermath
    unsettled = fit_model(train, fit_minmax_scaling(train), MspcSettings(settle_spans=None))
    assert detect_events(unsettled, faulty)["end"].max() > times.iloc[3600]


def test_an_adopted_level_counts_from_where_it_began_to_hold(machine) -> None:
    # the span over which the aftermath held is scored against the level it held, so the
    # event ends where axis_3 came back, not one EWMA span later
    model, train, scored = machine
    faulty = offset(scored, "axis_3", AFTERMATH)
    events = detect_events(model, faulty)
    later = fit_model(train, fit_minmax_scaling(train), MspcSettings(adopt_from_hold_start=False))
    spanned = detect_events(later, faulty)
    came_back = scored[TIME_COLUMN].iloc[2600]
    assert len(events) == len(spanned) == 1
    assert events["start"].iloc[0] == spanned["start"].iloc[0]
    assert came_back < events["end"].iloc[0] <= came_back + pd.Timedelta(seconds=10)
    # the level held over one EWMA span (20 readings): those no longer alarm
    assert spanned["n_samples"].iloc[0] - events["n_samples"].iloc[0] == 20
    assert spanned["end"].iloc[0] - events["end"].iloc[0] == pd.Timedelta(seconds=20)


def test_a_fault_that_holds_alarms_until_it_ends(machine) -> None:
    # a lasting fault never comes back, so its level is never adopted: one event, as long
    # as the fault
    model, _, scored = machine
    events = detect_events(model, offset(scored, "axis_3", [(2000, 5000, 0.6, 0.6)]))
    times = scored[TIME_COLUMN]
    assert len(events) == 1
    assert events["start"].iloc[0] <= times.iloc[2010]
    assert events["end"].iloc[0] >= times.iloc[4999]


def test_a_level_settles_at_the_same_reading_wherever_the_file_is_cut(machine) -> None:
    model, _, scored = machine
    faulty = offset(scored, "axis_3", AFTERMATH)
    whole = detect_events(model, faulty)
    for cuts in ([2610, 2615, 2620, 2625], list(range(7, len(faulty), 250)), [2001, 2650]):
        stream = stream_events(model)
        for low, high in itertools.pairwise([0, *cuts, len(faulty)]):
            stream.push(faulty.iloc[low:high])
        chunked = events_in_order(stream.finish())
        pd.testing.assert_frame_equal(chunked, whole, check_exact=False, rtol=1e-9, atol=1e-12)


def test_chunked_scoring_equals_one_pass(machine) -> None:
    model, _, scored = machine
    start = scored[TIME_COLUMN].iloc[1500]
    faulty = plant(
        scored, Planted("noise", "axis_1", start, start + pd.Timedelta(minutes=4), 3.0), 0.05
    )
    gap = (faulty.index > 4000) & (faulty.index < 4300)
    faulty = faulty[~gap].reset_index(drop=True)
    whole = detect_events(model, faulty)
    assert len(whole) >= 1
    for cuts in ([1], [1510, 1511, 1600], list(range(250, len(faulty), 250)), [4001, 6000]):
        stream = stream_events(model)
        for low, high in itertools.pairwise([0, *cuts, len(faulty)]):
            stream.push(faulty.iloc[low:high])
        chunked = events_in_order(stream.finish())
        pd.testing.assert_frame_equal(chunked, whole, check_exact=False, rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def adaptive(machine) -> tuple:
    _, train, scored = machine
    model = fit_model(train, fit_minmax_scaling(train), MspcSettings(adaptive_ewma=True))
    return model, train, scored


@pytest.fixture(scope="module")
def plain(machine) -> TrainedModel:
    train = machine[1]
    return fit_model(train, fit_minmax_scaling(train), MspcSettings(adaptive_ewma=False))


def test_the_adaptive_average_sees_a_large_shift_at_once_and_stays_quiet_on_noise(
    plain, adaptive
) -> None:
    model, train, scored = adaptive
    assert model.mspc is not None and model.mspc.huber_k is not None
    assert detect_events(model, scored).empty
    start = scored[TIME_COLUMN].iloc[2000]
    fault = Planted("rise", "axis_3", start, start + pd.Timedelta(minutes=5), 1.0)
    sigma = float(train["axis_3"].std())
    fast = planted_events(model, scored, fault, sigma)
    slow = planted_events(plain, scored, fault, sigma)
    assert len(fast) == len(slow) == 1
    # a step of 1 σ of the channel is about 6 σ of its residual, beyond every training
    # residual: it passes the adaptive average almost in full (the plain one takes 5 s)
    assert fast["start"].iloc[0] - start <= pd.Timedelta(seconds=1)
    assert slow["start"].iloc[0] - start >= pd.Timedelta(seconds=4)
    stored = json.loads(json.dumps(model.to_dict()))
    assert model_from_dict(stored) == model and "huber_k" not in plain.to_dict()["mspc"]


def test_the_adaptive_average_scores_the_same_wherever_the_file_is_cut(adaptive) -> None:
    model, _, scored = adaptive
    faulty = offset(scored, "axis_3", AFTERMATH)
    whole = detect_events(model, faulty)
    assert len(whole) >= 1
    for cuts in ([2001, 2002, 2650], list(range(7, len(faulty), 250))):
        stream = stream_events(model)
        for low, high in itertools.pairwise([0, *cuts, len(faulty)]):
            stream.push(faulty.iloc[low:high])
        chunked = events_in_order(stream.finish())
        pd.testing.assert_frame_equal(chunked, whole, check_exact=False, rtol=1e-9, atol=1e-12)


def test_a_model_round_trips_with_its_version(machine) -> None:
    model = machine[0]
    stored = json.loads(json.dumps(model.to_dict()))
    loaded = model_from_dict(stored)
    assert loaded == model and loaded.version == model.version
    assert loaded.to_dict() == stored


def test_auto_picks_cusum_for_a_robot_that_idles_and_records_why() -> None:
    readings = generate_robot_readings(4.0, SAMPLE_START, seed=3)
    assert idle_share(readings, AXES) > 0.05
    model = fit_model(readings, fit_minmax_scaling(readings), settings_for_mode("auto"))
    assert model.params.mode == "cusum"
    assert model.selection is not None and model.selection.startswith("auto chose cusum")
    assert model_from_dict(json.loads(json.dumps(model.to_dict()))).version == model.version
    asked = fit_model(readings, fit_minmax_scaling(readings), settings_for_mode("cusum"))
    assert asked.selection is None and "selection" not in asked.to_dict()
    events = detect_events(model, readings.iloc[:2000])
    assert list(events.columns)[-1] == "contributions"


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def stored_scenario() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The readings of the stored mspc fixture: an hour to train on, two to score with a
    fall and a burst of noise planted."""
    readings = pump(3.0, seed=12)
    train, scored = readings.iloc[:3600], readings.iloc[3600:].reset_index(drop=True)
    for kind, row, channel in (("fall", 1500, "axis_3"), ("noise", 5000, "axis_1")):
        start = scored[TIME_COLUMN].iloc[row]
        fault = Planted(kind, channel, start, start + pd.Timedelta(minutes=5), 3.0)
        scored = plant(scored, fault, float(train[channel].std()))
    return train, scored


def test_the_stored_mspc_model_keeps_its_version_and_events() -> None:
    # model_mspc.json and events_mspc.json were written by the code that added the mode:
    # a model stored today must load, hash and score the same after later changes
    content = json.loads((FIXTURES / "model_mspc.json").read_text())
    expected = json.loads((FIXTURES / "events_mspc.json").read_text())
    train, scored = stored_scenario()
    model = model_from_dict(content)
    assert model.version == content["version"]
    # Stored before 2026-12-06 (predictions fitted on every training reading, inputs not
    # held in their training range, every baseline held while any statistic alarms, no
    # level adopted after an alarm): it
    # loads as it was and scores as it did; a refit today is another version.
    assert model.params == MspcSettings(
        fit_share=None, settle_spans=None, adopt_from_hold_start=None, adaptive_ewma=None
    )
    assert model.mspc is not None and model.mspc.input_range is None and model.mspc.hold is None
    assert model.mspc.settle_samples is None
    assert model.to_dict() == content
    assert fit_model(train, fit_minmax_scaling(train), MspcSettings()).version != model.version
    found = detect_events(model, scored)
    assert len(expected) == len(found) > 0
    for got, want in zip(found.to_dict("records"), expected, strict=True):
        assert (got["axis"], got["severity"], got["n_samples"]) == (
            want["axis"],
            want["severity"],
            want["n_samples"],
        )
        assert got["start"].isoformat() == want["start"]
        assert got["contributions"] == want["contributions"]
        assert got["z_mean"] == pytest.approx(want["z_mean"], rel=1e-9)
