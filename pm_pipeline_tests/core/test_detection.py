import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from pm_pipeline.core.detection.registry import detect_events
from pm_pipeline.core.detection.seed import residual_frame
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import AxisModel, AxisThresholds, MinMaxScaling, TrainedModel
from pm_pipeline.core.schema import AXES, TIME_COLUMN

EPOCH = pd.Timestamp("2024-03-01T00:00:00Z")


def unit_model(sustain: int = 3) -> TrainedModel:
    """Scaled = amperes, a flat line at 0, residual σ = 1: amperes read directly as z."""
    limits = AxisThresholds(1.65, 2.57, 1.65, 2.57, sustain, sustain * 2.0)
    axes = {a: AxisModel(a, 0.0, 0.0, 0.0, 0.0, 1.0, 100, limits) for a in AXES}
    scaling = MinMaxScaling({a: 0.0 for a in AXES}, {a: 1.0 for a in AXES})
    return TrainedModel(
        epoch=EPOCH.isoformat(),
        window_start=EPOCH.isoformat(),
        window_end=EPOCH.isoformat(),
        row_count=100,
        dt_s=2.0,
        params=SeedSettings(),
        scaling=scaling,
        axes=axes,
        version="test",
    )


def readings_with(
    axis_values: list[float], start_offset_s: float = 0.0, steps: list[float] | None = None
) -> pd.DataFrame:
    count = len(axis_values)
    seconds = np.cumsum([0.0] + (steps or [2.0] * (count - 1))) + start_offset_s
    frame = pd.DataFrame({TIME_COLUMN: EPOCH + pd.to_timedelta(seconds, unit="s")})
    for axis in AXES:
        frame[axis] = 0.0
    frame["axis_2"] = axis_values
    return frame


def test_run_shorter_than_sustain_is_not_an_event() -> None:
    events = detect_events(unit_model(), readings_with([0, 2, 2, 0, 0, 0]))
    assert events.empty


def test_alert_run_and_error_inside_it() -> None:
    values = [0, 2.0, 2.0, 3.0, 3.0, 3.0, 2.0, 0, 0]
    events = detect_events(unit_model(), readings_with(values))
    assert events[["axis", "severity", "n_samples"]].values.tolist() == [
        ["axis_2", "ALERT", 6],
        ["axis_2", "ERROR", 3],
    ]
    alert = events.iloc[0]
    assert alert["z_mean"] == pytest.approx(np.mean([2, 2, 3, 3, 3, 2]))
    assert alert["z_peak"] == 3.0
    assert alert["p_value"] == pytest.approx(norm.sf(alert["z_mean"]))
    assert alert["duration_s"] == pytest.approx(10.0)
    assert alert["start"] == EPOCH + pd.Timedelta(seconds=2)


def test_a_data_gap_splits_the_run() -> None:
    values = [2.0, 2.0, 2.0, 2.0]
    steps = [2.0, 300.0, 2.0]
    assert detect_events(unit_model(sustain=3), readings_with(values, steps=steps)).empty
    assert len(detect_events(unit_model(sustain=2), readings_with(values, steps=steps))) == 2


def test_null_readings_are_left_out_not_zeroed() -> None:
    values = [2.0, 2.0, np.nan, 2.0, 0.0]
    events = detect_events(unit_model(), readings_with(values))
    assert events["n_samples"].tolist() == [3]


def test_time_is_measured_from_the_model_epoch() -> None:
    model = unit_model()
    sloped = TrainedModel(
        **{
            **model.__dict__,
            "axes": {
                a: AxisModel(a, 0.001, 0.0, 0.0, 0.0, 1.0, 100, m.thresholds)
                for a, m in model.axes.items()
            },
        }
    )
    later = readings_with([0.0, 0.0], start_offset_s=1000.0)
    scored = residual_frame(sloped, later, "axis_2")
    assert scored["seconds"].tolist() == [1000.0, 1002.0]
    assert scored["predicted"].tolist() == pytest.approx([1.0, 1.002])


def test_no_events_keeps_the_column_types() -> None:
    events = detect_events(unit_model(), readings_with([0.0] * 10))
    assert events.empty
    assert str(events["start"].dtype) == "datetime64[us, UTC]"
    assert (events["start"] <= EPOCH).empty
