"""Mode names map to detectors and settings; each mode has its own defaults."""

import json
from pathlib import Path

import pytest

from pm_pipeline.core.detection.detectors import RobustDetector, SeedDetector
from pm_pipeline.core.detection.registry import DETECTORS, detector_for, fit_model
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import (
    MODES,
    STORED_DEFAULTS,
    RobustSettings,
    SeedSettings,
    settings_for_mode,
    settings_from_dict,
)
from pm_pipeline.core.model.trained import fit_minmax_scaling, model_from_dict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_every_mode_has_a_detector_of_its_settings() -> None:
    assert tuple(DETECTORS) == MODES
    for mode in MODES:
        detector = detector_for(mode)
        assert detector.settings_type.mode == mode
        assert detector.describe().mode == mode


def test_an_unknown_mode_is_a_one_line_pipeline_error() -> None:
    for lookup in (detector_for, settings_for_mode):
        with pytest.raises(
            PipelineError, match=r"mode 'fancy' is unknown; use one of robust, seed"
        ):
            lookup("fancy")


def test_asking_for_robust_gets_the_robust_limits() -> None:
    assert RobustSettings() == settings_for_mode("robust")
    assert (RobustSettings().z_alert, RobustSettings().z_error) == (3.0, 4.0)
    assert RobustSettings().min_sustain_samples == 16
    assert (SeedSettings().z_alert, SeedSettings().z_error) == (1.65, 2.57)
    assert settings_for_mode("robust", z_alert=None, z_error=5.0).z_error == 5.0


def test_a_setting_of_the_other_mode_is_refused_by_name() -> None:
    with pytest.raises(PipelineError, match="window_samples has no meaning in mode 'seed'"):
        settings_for_mode("seed", window_samples=30)
    with pytest.raises(PipelineError, match="sustain_percentile has no meaning in mode 'robust'"):
        settings_for_mode("robust", sustain_percentile=90.0)


@pytest.mark.parametrize("settings", [SeedSettings(z_alert=2.0), RobustSettings(window_samples=32)])
def test_settings_are_stored_in_the_flat_shape_and_read_back(settings) -> None:
    stored = settings.to_dict()
    assert set(stored) == set(STORED_DEFAULTS)
    assert stored["mode"] == settings.mode
    assert settings_from_dict(json.loads(json.dumps(stored))) == settings


def test_settings_of_the_other_mode_do_not_reach_a_detector(robot_day) -> None:
    scaling = fit_minmax_scaling(robot_day)
    with pytest.raises(PipelineError, match="settings of mode 'seed' reached the 'robust'"):
        RobustDetector().fit_axes(
            robot_day, robot_day.index.to_numpy(), scaling, 2.0, SeedSettings()
        )
    model = fit_model(robot_day, scaling, SeedSettings())
    with pytest.raises(PipelineError, match="mode 'seed' reached the 'robust'"):
        RobustDetector().stream(model)


def test_descriptions_say_which_model_fields_mean_something() -> None:
    seed, robust = SeedDetector().describe(), RobustDetector().describe()
    assert {"slope", "r2"} <= set(seed.axis_fields) and not seed.channels
    assert not {"slope", "r2"} & set(robust.axis_fields)
    assert robust.channels == ("active", "idle") and "channels" in robust.axis_fields


@pytest.mark.parametrize("mode", MODES)
def test_stored_models_load_with_their_mode_settings(mode: str) -> None:
    content = json.loads((FIXTURES / f"model_{mode}.json").read_text())
    model = model_from_dict(content)
    assert type(model.params) is type(settings_for_mode(mode))
    assert model.to_dict() == content
