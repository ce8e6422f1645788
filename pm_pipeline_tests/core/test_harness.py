"""The detection harness: each fault kind changes what it should, where the robot moves,
and the report adds up."""

import numpy as np
import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.evaluation.harness import (
    SPLITS,
    fed,
    hits,
    part,
    plan_faults,
    run_harness,
)
from pm_pipeline.core.evaluation.harness_report import TARGETS, formatted, summarise
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.faults import robot_idle
from pm_pipeline.core.simulation.sample import SAMPLE_START, generate_robot_readings
from pm_pipeline.core.simulation.wear import KINDS, MOVING_SHARE

START = SAMPLE_START + pd.Timedelta(hours=1)
END = START + pd.Timedelta(minutes=20)


@pytest.fixture(scope="module")
def readings() -> pd.DataFrame:
    return generate_robot_readings(10, SAMPLE_START, seed=8)


def injected(
    readings: pd.DataFrame, kind: str, end: pd.Timestamp = END
) -> tuple[pd.DataFrame, pd.Timestamp]:
    return KINDS[kind].inject(readings, "axis_2", START, end, np.random.default_rng(1))


def inside(readings: pd.DataFrame, end: pd.Timestamp = END) -> np.ndarray:
    return readings[TIME_COLUMN].between(START, end).to_numpy()


def test_there_are_eight_kinds() -> None:
    assert list(KINDS) == [
        "step_1.3",
        "step_1.5",
        "step_1.8",
        "ramp",
        "bursts",
        "jitter",
        "stuck",
        "idle_offset",
    ]


@pytest.mark.parametrize(
    ("kind", "factor"), [("step_1.3", 1.3), ("step_1.5", 1.5), ("step_1.8", 1.8)]
)
def test_a_step_multiplies_the_moving_samples_in_its_window_only(readings, kind, factor) -> None:
    out, onset = injected(readings, kind)
    before, after = readings["axis_2"].to_numpy(), out["axis_2"].to_numpy()
    moving = inside(readings) & (before != 0)
    np.testing.assert_allclose(after[moving], np.round(before[moving] * factor, 5))
    np.testing.assert_array_equal(after[~moving], before[~moving])
    assert onset == START
    others = [axis for axis in readings.columns if axis not in ("axis_2", TIME_COLUMN)]
    pd.testing.assert_frame_equal(out[others], readings[others])


def test_a_ramp_rises_then_holds_and_its_onset_is_at_x1_3(readings) -> None:
    end = START + pd.Timedelta(minutes=90)
    out, onset = injected(readings, "ramp", end)
    before, after = readings["axis_2"].to_numpy(), out["axis_2"].to_numpy()
    moving = np.flatnonzero(inside(readings, end) & (before != 0))
    ratio = after[moving] / before[moving]
    assert ratio[0] < 1.05 and 1.3 <= ratio[-1] <= 1.6 + 1e-6
    assert (np.diff(ratio) >= -1e-4).all()  # never falls (rounding aside)
    at_onset = moving[(readings[TIME_COLUMN].iloc[moving] >= onset).to_numpy()][0]
    assert after[at_onset] / before[at_onset] == pytest.approx(1.3, abs=0.02)


def test_bursts_double_20_seconds_of_every_2_minutes(readings) -> None:
    out, _ = injected(readings, "bursts")
    before, after = readings["axis_2"].to_numpy(), out["axis_2"].to_numpy()
    changed = after != before
    elapsed = (readings[TIME_COLUMN] - START).dt.total_seconds().to_numpy()
    assert changed.any() and (elapsed[changed] % 120 < 20).all()
    np.testing.assert_allclose(after[changed], np.round(before[changed] * 2, 5))
    assert ((before != 0) & inside(readings) & (elapsed % 120 < 20) == changed).all()


def test_jitter_changes_moving_samples_not_zeros_nor_their_mean_much(readings) -> None:
    out, _ = injected(readings, "jitter")
    before, after = readings["axis_2"].to_numpy(), out["axis_2"].to_numpy()
    moving = inside(readings) & (before != 0)
    assert (after[moving] != before[moving]).mean() > 0.99
    np.testing.assert_array_equal(after[~moving], before[~moving])
    assert abs(after[moving].sum() / before[moving].sum() - 1) < 0.1


def test_a_stuck_sensor_reads_its_last_value_throughout(readings) -> None:
    out, _ = injected(readings, "stuck")
    window = inside(readings)
    last = readings.loc[~window & (readings[TIME_COLUMN] < START) & (readings["axis_2"] != 0)]
    assert (out.loc[window, "axis_2"] == last["axis_2"].iloc[-1]).all()


def test_an_idle_offset_touches_only_rows_where_the_robot_stands_still(readings) -> None:
    out, _ = injected(readings, "idle_offset")
    changed = out["axis_2"].to_numpy() != readings["axis_2"].to_numpy()
    assert changed.any()
    assert (robot_idle(readings)[changed]).all() and inside(readings)[changed].all()
    offset = out.loc[changed, "axis_2"] - readings.loc[changed, "axis_2"]
    assert offset.between(0.5, 1.0).all()


def test_faults_that_need_motion_go_where_the_robot_moves(readings) -> None:
    faults = plan_faults(readings, seed=2, per_kind=3)
    assert {fault.kind for fault in faults} == set(KINDS)
    assert len({fault.axis for fault in faults}) == 8
    idle = robot_idle(readings)
    for fault in faults:
        window = readings[TIME_COLUMN].between(fault.start, fault.end).to_numpy()
        moving_share = 1 - idle[window].mean()
        if KINDS[fault.kind].needs == "moving":
            assert moving_share >= MOVING_SHARE - 0.02, fault
        if fault.kind == "idle_offset":
            assert moving_share <= 0.72, fault
        assert fault.end <= readings[TIME_COLUMN].iloc[-1]


def test_splits_cover_different_training_parts(readings) -> None:
    assert len(SPLITS) >= 3 and len({split.train for split in SPLITS}) == len(SPLITS)
    first, second = part(readings, (0.0, 0.5)), part(readings, (0.5, 1.0))
    assert len(first) + len(second) == len(readings)


def test_files_alone_lose_what_a_carried_stream_keeps(readings) -> None:
    cut = SAMPLE_START + pd.Timedelta(hours=8)
    train = readings[readings[TIME_COLUMN] < cut].reset_index(drop=True)
    model = fit_model(train, fit_minmax_scaling(train), settings_for_mode("robust"))
    scored = readings[readings[TIME_COLUMN] >= cut].reset_index(drop=True)
    fault = next(f for f in plan_faults(scored, seed=1, per_kind=1) if f.kind == "step_1.5")
    scored, _ = KINDS["step_1.5"].inject(
        scored, fault.axis, fault.start, fault.end, np.random.default_rng(0)
    )
    whole = detect_events(model, scored)
    assert len(hits(whole, fault)) == 1
    pd.testing.assert_frame_equal(fed(model, scored, 250, True), whole)
    alone = fed(model, scored, 250, False)
    assert not alone.equals(whole)


def test_the_report_has_every_target_and_every_mode(readings) -> None:
    faults, clean = run_harness(
        readings,
        {"seed": settings_for_mode("seed"), "robust": settings_for_mode("robust")},
        seeds=[1],
        splits=SPLITS[:1],
    )
    assert len(faults) == 2 * len(KINDS)
    table = summarise(faults, clean)
    assert list(table.columns) == ["seed", "robust", "target"]
    assert set(TARGETS) <= set(table.index)
    assert table.loc["faults", "robust"] == len(KINDS)
    assert 0 <= table["robust"].loc[["recall, all faults"]].astype(float).iloc[0] <= 1
    assert "median minutes to detect" in formatted(table)


def test_planning_some_kinds_plans_the_faults_a_full_plan_has_of_them(readings) -> None:
    every = plan_faults(readings, seed=3, per_kind=2, offset=1)
    some = plan_faults(readings, seed=3, per_kind=2, offset=1, kinds=("jitter", "bursts"))
    assert some == [fault for fault in every if fault.kind in ("bursts", "jitter")]
    assert {fault.kind for fault in some} == {"bursts", "jitter"}
