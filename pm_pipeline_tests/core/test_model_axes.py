"""A model covers the axes that carry training readings, and says so when none or too few do."""

import json

import numpy as np
import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.thresholds import threshold_table
from pm_pipeline.core.model.trained import fit_minmax_scaling, model_from_dict, model_version
from pm_pipeline.core.schema import AXES
from pm_pipeline.core.simulation.faults import plan_injections
from pm_pipeline.core.simulation.synthetic import generate_synthetic_test_data
from pm_pipeline.core.views.health import measure_data_health


def blanked(readings: pd.DataFrame, axes: list[str], keep: int = 0) -> pd.DataFrame:
    """``readings`` with ``axes`` blank (no load) in every row but the first ``keep``."""
    out = readings.copy()
    out.loc[out.index[keep:], axes] = np.nan
    return out


# name: (axes left blank, modelled axes)
SUBSETS = {
    "6-axis robot": (["axis_7", "axis_8"], AXES[:6]),
    "1-axis robot": (list(AXES[1:]), AXES[:1]),
    "axis 3 absent": (["axis_3"], tuple(a for a in AXES if a != "axis_3")),
    "all eight": ([], AXES),
}


@pytest.mark.parametrize(
    ("case", "mode"),
    # Robust mode needs a second axis to tell motion from standstill: see FAILURES.
    [(c, m) for c in SUBSETS for m in ("robust", "seed") if m == "seed" or len(SUBSETS[c][1]) > 1],
)
def test_model_covers_axes_with_readings(robot_day: pd.DataFrame, case: str, mode: str) -> None:
    blank, expected = SUBSETS[case]
    readings = blanked(robot_day, blank)
    scaling = fit_minmax_scaling(readings)
    assert tuple(scaling.minimums) == tuple(scaling.maximums) == expected
    model = fit_model(readings, scaling, settings_for_mode(mode))
    assert model.axis_names == expected
    # Round trip through the registry's JSON, and a version that hashes the covered axes.
    back = model_from_dict(json.loads(json.dumps(model.to_dict())))
    assert back == model and model_version(back) == model.version
    synthetic = generate_synthetic_test_data(model, hours=2.0)
    assert set(synthetic.injected["axis"]) == set(expected)
    assert synthetic.readings[blank].isna().all().all()
    for axis in blank:
        table = threshold_table(model, axis).set_index("parameter")["value"]
        assert table["model_version"] == model.version and table["modelled"].startswith("no")
    assert set(plan_injections(readings, per_kind=4, seed=1)["axis"]) <= set(expected)


def test_versions_differ_when_the_covered_axes_differ(robot_day: pd.DataFrame) -> None:
    params = settings_for_mode("seed")
    full = fit_model(robot_day, fit_minmax_scaling(robot_day), params)
    six = blanked(robot_day, ["axis_7", "axis_8"])
    assert fit_model(six, fit_minmax_scaling(six), params).version != full.version


# name: (axes left blank except in the first `keep` rows, keep, mode, message fragments)
FAILURES = {
    "no axis has a reading": (list(AXES), 0, "seed", ["no axis has a reading"]),
    "axis 8 has 5 readings (seed)": (
        ["axis_8"],
        5,
        "seed",
        ["column 'axis_8': only 5 non-blank readings", "need at least 10"],
    ),
    "1-axis robot, robust mode": (
        list(AXES[1:]),
        0,
        "robust",
        ["mode 'robust' tells motion from standstill", "only axis_1 has readings", "'seed'"],
    ),
    "axis 2 has 12 readings (robust)": (
        ["axis_2"],
        12,
        "robust",
        ["column 'axis_2': only", "active readings", "need at least 48"],
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_too_little_data_is_a_clear_error(robot_day: pd.DataFrame, case: str) -> None:
    blank, keep, mode, fragments = FAILURES[case]
    # Start in motion, so the kept readings of the robust case are active ones.
    moving = robot_day[(robot_day[list(AXES)] != 0).any(axis=1)].reset_index(drop=True)
    readings = blanked(moving, blank, keep)
    with pytest.raises(PipelineError) as raised:
        fit_model(readings, fit_minmax_scaling(readings), settings_for_mode(mode))
    for fragment in fragments:
        assert fragment in str(raised.value)


def test_idle_share_of_a_six_axis_robot_ignores_its_absent_axes(robot_day: pd.DataFrame) -> None:
    six = blanked(robot_day, ["axis_7", "axis_8"])
    expected = float((robot_day[list(AXES[:6])] == 0).all(axis=1).mean())
    health = measure_data_health(six)
    assert health.idle_share == pytest.approx(expected) and expected > 0.5
    assert health.null_share["axis_7"] == 1.0
