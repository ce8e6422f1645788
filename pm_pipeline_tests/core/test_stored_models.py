"""Models stored by earlier versions still load, keep their version and score the same.

The fixtures under ``pm_pipeline_tests/fixtures/`` were written by the code of commit
ad5d710 (before the detector interface) for seed and robust, and when the cusum mode was
added for cusum: each mode's model JSON exactly as the registry stores it, and the events
that code found on the scoring slice. The readings are not
stored; they are regenerated here from fixed seeds.
"""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.model.params import settings_for_mode
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
MODES = ("seed", "robust", "cusum")


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


@pytest.mark.parametrize("mode", MODES)
def test_stored_model_scores_as_it_did(mode: str, data: tuple) -> None:
    content = json.loads((FIXTURES / f"model_{mode}.json").read_text())
    expected = json.loads((FIXTURES / f"events_{mode}.json").read_text())
    model = model_from_dict(content)
    assert model.version == content["version"]
    assert model.params.mode == mode
    found = events_as_records(detect_events(model, data[1]))
    assert len(expected) > 0
    assert len(found) == len(expected)
    for got, want in zip(found, expected, strict=True):
        for key in ("axis", "severity", "start", "end", "n_samples"):
            assert got[key] == want[key], (key, got, want)
        for key in ("duration_s", "z_mean", "z_peak", "p_value"):
            assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), (key, got, want)


@pytest.mark.parametrize("mode", MODES)
def test_fresh_model_keeps_the_stored_version(mode: str, data: tuple) -> None:
    content = json.loads((FIXTURES / f"model_{mode}.json").read_text())
    train = data[0]
    model = fit_model(train, fit_minmax_scaling(train), settings_for_mode(mode))
    assert model.version == content["version"]


def write_fixtures(modes: list[str]) -> None:
    """Rewrite the fixtures of ``modes``: only when the stored format changes on purpose."""
    train, scored = readings()
    for mode in modes:
        model = fit_model(train, fit_minmax_scaling(train), settings_for_mode(mode))
        # As db/registry.py stores it.
        (FIXTURES / f"model_{mode}.json").write_text(json.dumps(model.to_dict(), sort_keys=True))
        events = events_as_records(detect_events(model, scored))
        (FIXTURES / f"events_{mode}.json").write_text(json.dumps(events, indent=1) + "\n")


if __name__ == "__main__" and sys.argv[1:2] == ["--write"]:
    write_fixtures(sys.argv[2:] or list(MODES))
