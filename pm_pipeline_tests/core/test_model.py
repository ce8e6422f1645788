import numpy as np
import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.timeaxis import run_lengths
from pm_pipeline.core.model.trained import fit_minmax_scaling, model_from_dict
from pm_pipeline.core.model.windows import newest_hours
from pm_pipeline.core.schema import AXES, TIME_COLUMN

START = pd.Timestamp("2024-03-01T00:00:00Z")


def linear_readings(count: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Every axis: 2 A + 1 A per hour, plus N(0, 0.1) noise, at a 2 s cadence."""
    rng = np.random.default_rng(seed)
    seconds = np.arange(count) * 2.0
    frame = pd.DataFrame({TIME_COLUMN: START + pd.to_timedelta(seconds, unit="s")})
    for axis in AXES:
        frame[axis] = 2.0 + seconds / 3600 + rng.normal(0, 0.1, count)
    return frame


def test_line_is_recovered_in_scaled_units() -> None:
    readings = linear_readings()
    scaling = fit_minmax_scaling(readings)
    model = fit_model(readings, scaling, SeedSettings())
    fitted = model.axes["axis_3"]
    span = scaling.span("axis_3")
    assert fitted.slope * span * 3600 == pytest.approx(1.0, rel=0.02)
    assert fitted.intercept * span + scaling.minimums["axis_3"] == pytest.approx(2.0, abs=0.02)
    assert fitted.residual_sigma * span == pytest.approx(0.1, rel=0.1)
    assert fitted.r2 > 0.9
    assert model.epoch == START.isoformat()
    assert model.dt_s == pytest.approx(2.0)


def test_thresholds_follow_the_recipe() -> None:
    model = fit_model(linear_readings(), fit_minmax_scaling(linear_readings()), SeedSettings())
    for fitted in model.axes.values():
        limits = fitted.thresholds
        assert limits.min_c == pytest.approx(1.65 * fitted.residual_sigma)
        assert limits.max_c == pytest.approx(2.57 * fitted.residual_sigma)
        assert limits.sustain_samples >= 3
        assert limits.sustain_s == pytest.approx(limits.sustain_samples * 2.0)


def test_scaler_ignores_nulls_and_uses_only_the_window() -> None:
    readings = linear_readings(100)
    readings.loc[5, "axis_1"] = np.nan
    scaling = fit_minmax_scaling(readings)
    assert scaling.minimums["axis_1"] == pytest.approx(readings["axis_1"].min())
    assert scaling.maximums["axis_1"] == pytest.approx(readings["axis_1"].max())


def test_version_is_a_content_hash() -> None:
    readings = linear_readings()
    scaling = fit_minmax_scaling(readings)
    first = fit_model(readings, scaling, SeedSettings())
    again = fit_model(readings, scaling, SeedSettings())
    other = fit_model(readings, scaling, SeedSettings(z_alert=2.0))
    assert first.version == again.version
    assert first.version != other.version
    assert model_from_dict(first.to_dict()) == first


def test_too_few_rows_is_a_user_error() -> None:
    readings = linear_readings(5)
    with pytest.raises(PipelineError, match="need at least"):
        fit_minmax_scaling(readings)


def test_run_lengths_split_at_gaps() -> None:
    mask = np.array([True, True, False, True, True, True, True])
    breaks = np.array([False, False, False, False, False, True, False])
    assert run_lengths(mask, breaks).tolist() == [2, 2, 2]


def test_newest_hours_keeps_the_last_hours_before_the_newest_reading() -> None:
    times = pd.date_range("2026-01-05T00:00:00Z", periods=5, freq="h")
    readings = pd.DataFrame({TIME_COLUMN: times, "axis_1": range(5)})
    assert newest_hours(readings, 2.0)["axis_1"].tolist() == [2, 3, 4]
    assert newest_hours(readings, 10.0)["axis_1"].tolist() == [0, 1, 2, 3, 4]
    assert newest_hours(readings.iloc[:0], 2.0).empty
