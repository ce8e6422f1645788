"""Models stored by earlier versions still load, keep their version and score the same.

The fixtures under ``pm_pipeline_tests/fixtures/`` were written by the code of commit
ad5d710 (before the detector interface) for seed and robust, when the cusum mode was added
for ``cusum`` (four channels, 2000 moments, 16 neighbours), when its second version
came for ``cusum_2`` (surge and variance channels, 8000 moments, 6 neighbours), and when
residuals came to be divided by their neighbours' spread for ``cusum_3`` (a spread floor
per axis, events from 6 samples): each model's JSON exactly as the registry stores it, and
the events that code found on the scoring slice. The readings are not stored; they are
regenerated here from fixed seeds.
"""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.model.params import CusumSettings, settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling, model_from_dict
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import (
    SAMPLE_START,
    SampleFault,
    generate_robot_readings,
    inject_wear,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SPLIT = SAMPLE_START + pd.Timedelta(hours=6)
WEAR = SampleFault(
    "axis_2", 1.6, SPLIT + pd.Timedelta(hours=1), SPLIT + pd.Timedelta(hours=1, minutes=15)
)
STORED = {
    "seed": "seed",
    "robust": "robust",
    "cusum": "cusum",
    "cusum_2": "cusum",
    "cusum_3": "cusum",
}
"""Fixture name: the mode of the model stored under it."""
CURRENT = ("seed", "robust", "cusum_3")
"""The fixture a model fitted today with each mode's defaults must equal."""


def readings() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six hours to train on and the next two hours, with planted wear, to score."""
    frame = generate_robot_readings(8, SAMPLE_START, seed=20261124)
    train = frame[frame[TIME_COLUMN] < SPLIT].reset_index(drop=True)
    scored = inject_wear(frame[frame[TIME_COLUMN] >= SPLIT].reset_index(drop=True), WEAR)
    return train, scored


def events_as_records(events: pd.DataFrame) -> list[dict]:
    records = events.to_dict("records")
    for record in records:
        record["start"], record["end"] = record["start"].isoformat(), record["end"].isoformat()
        record["n_samples"] = int(record["n_samples"])
    return records


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    return readings()


@pytest.mark.parametrize("name", list(STORED))
def test_stored_model_scores_as_it_did(name: str, data: tuple) -> None:
    content = json.loads((FIXTURES / f"model_{name}.json").read_text())
    expected = json.loads((FIXTURES / f"events_{name}.json").read_text())
    model = model_from_dict(content)
    assert model.version == content["version"]
    assert model.params.mode == STORED[name]
    found = events_as_records(detect_events(model, data[1]))
    assert len(expected) > 0
    assert len(found) == len(expected)
    for got, want in zip(found, expected, strict=True):
        for key in ("axis", "severity", "start", "end", "n_samples"):
            assert got[key] == want[key], (key, got, want)
        for key in ("duration_s", "z_mean", "z_peak", "p_value"):
            assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), (key, got, want)


@pytest.mark.parametrize("name", CURRENT)
def test_fresh_model_keeps_the_stored_numbers(name: str, data: tuple) -> None:
    content = json.loads((FIXTURES / f"model_{name}.json").read_text())
    train = data[0]
    model = fit_model(train, fit_minmax_scaling(train), settings_for_mode(STORED[name]))
    fresh = json.loads(json.dumps(model.to_dict(), sort_keys=True))  # as the registry stores it
    # A model's version hashes its numbers to the last bit, and a sum's last bit depends on
    # the CPU's vector width (NumPy adds in blocks as wide as it has): the same code on
    # another machine may fit numbers a rounding apart, and so another version.
    got, want = flattened(fresh), flattened(content)
    assert got.keys() == want.keys()
    for leaf, value in want.items():
        if isinstance(value, float):
            assert got[leaf] == pytest.approx(value, rel=1e-12, abs=1e-300), leaf
        else:
            assert got[leaf] == value, leaf
    if got == want:
        assert model.version == content["version"]


def flattened(content: object, path: str = "") -> dict[str, object]:
    """Every leaf of a stored model's JSON under its path, but the version."""
    if isinstance(content, dict):
        pairs = ((f"{path}/{key}", value) for key, value in content.items() if key != "version")
    elif isinstance(content, list):
        pairs = ((f"{path}[{index}]", value) for index, value in enumerate(content))
    else:
        return {path: content}
    return {leaf: value for item in pairs for leaf, value in flattened(item[1], item[0]).items()}


def test_the_first_cusum_version_scores_four_channels_and_the_second_six() -> None:
    first = model_from_dict(json.loads((FIXTURES / "model_cusum.json").read_text()))
    second = model_from_dict(json.loads((FIXTURES / "model_cusum_2.json").read_text()))
    assert set(first.axes["axis_2"].cusum or {}) == {"level", "spread", "idle", "flat"}
    assert set(second.axes["axis_2"].cusum or {}) == {
        *("level", "spread", "surge", "variance", "idle", "flat")
    }


def test_only_the_third_cusum_version_divides_residuals_by_the_neighbours_spread() -> None:
    models = {
        name: model_from_dict(json.loads((FIXTURES / f"model_{name}.json").read_text()))
        for name in ("cusum", "cusum_2", "cusum_3")
    }
    for name in ("cusum", "cusum_2"):
        conditioning = models[name].conditioning
        assert conditioning is not None and conditioning.spread_floor is None
        params = models[name].params
        assert isinstance(params, CusumSettings) and params.spread_floor_share is None
    third = models["cusum_3"]
    assert third.conditioning is not None and third.conditioning.spread_floor is not None
    assert isinstance(third.params, CusumSettings)
    assert third.params.spread_floor_share == 1.0 and third.params.min_sustain_samples == 6


def write_fixtures(names: list[str]) -> None:
    """Write the fixtures of ``names`` (of :data:`CURRENT`) from today's code: for a new
    stored version, under a new name; an older version's fixture is never rewritten."""
    train, scored = readings()
    for name in names:
        mode = STORED[name]
        model = fit_model(train, fit_minmax_scaling(train), settings_for_mode(mode))
        # As db/registry.py stores it.
        (FIXTURES / f"model_{name}.json").write_text(json.dumps(model.to_dict(), sort_keys=True))
        events = events_as_records(detect_events(model, scored))
        (FIXTURES / f"events_{name}.json").write_text(json.dumps(events, indent=1) + "\n")


if __name__ == "__main__" and sys.argv[1:2] == ["--write"]:
    write_fixtures(sys.argv[2:] or list(CURRENT))
