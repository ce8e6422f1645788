"""The SKAB harness on two of its files: the ruler every detection figure is read with."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pm_pipeline.core.evaluation.nab import binary_scores, nab_scores
from pm_pipeline.core.evaluation.skab import (
    SkabFile,
    always_alarm,
    mode_predictor,
    run_skab,
    skab_files,
    t2q_predictions,
)
from pm_pipeline.core.model.params import MspcSettings
from pm_pipeline_tests.conftest import PROJECT_ROOT, skip_or_fail

SKAB = PROJECT_ROOT.parent / "shared" / "data" / "skab"


@pytest.fixture(scope="module")
def two_files() -> list[SkabFile]:
    if not (SKAB / "valve1" / "0.csv").is_file():
        skip_or_fail(f"SKAB not found at {SKAB}")
    return skab_files(Path(SKAB), ["valve1/0", "other/9"])


def test_always_alarm_scores_the_anomaly_share_as_f1(two_files: list[SkabFile]) -> None:
    scores = run_skab(two_files, always_alarm)
    assert (scores.binary.tp, scores.binary.fp, scores.binary.fn) == (802, 689, 0)
    assert scores.binary.far == 100.0
    assert round(scores.binary.f1, 4) == 0.6995
    # one rise at each file's first test row, outside every window: two false positives
    assert (scores.nab.standard, scores.nab.low_fp, scores.nab.low_fn) == (-1.38, -2.75, -0.92)


def test_t2q_reference_scores_as_skab_computes_it(two_files: list[SkabFile]) -> None:
    scores = run_skab(two_files, t2q_predictions)
    binary = scores.binary
    assert (binary.tp, binary.fp, binary.fn, binary.tn) == (716, 344, 86, 345)
    assert round(binary.f1, 4) == 0.7691
    assert (scores.nab.standard, scores.nab.low_fp, scores.nab.low_fn) == (22.71, 22.48, 23.47)


def test_a_mode_scores_cold_or_after_its_training_rows_as_the_cli_does(
    two_files: list[SkabFile],
) -> None:
    # SKAB's protocol starts the detector at the first test row; `pm-pipeline score`
    # replays the training readings first, so its EWMA and baseline start warm
    valve = two_files[0]
    cold = mode_predictor(MspcSettings())(valve.train, valve.test)
    warm = mode_predictor(MspcSettings(), replay_training=True)(valve.train, valve.test)
    assert len(warm) == len(valve.test)
    assert np.flatnonzero(cold != warm).tolist() == [195, 196]
    assert (cold[195:197].tolist(), warm[195:197].tolist()) == ([1, 1], [0, 0])
    scores = run_skab(two_files, mode_predictor(MspcSettings(), replay_training=True))
    # (546, 28, 256) and NAB 44.14 before 2026-12-07; counting an adopted level from where it
    # began to hold, (526, 28, 276); the adaptive average on the levels, as now, reaches the
    # faults sooner (NAB up) and flags fewer rows after them, at some rows of valve1/0's fault
    assert (scores.binary.tp, scores.binary.fp, scores.binary.fn) == (511, 14, 291)
    assert scores.nab.standard == 46.78


def test_nab_scores_a_detection_by_its_place_in_the_window() -> None:
    times = pd.date_range("2020-03-09", periods=200, freq="s").to_numpy()
    changepoints = np.zeros(200, dtype=int)
    changepoints[[50, 150]] = 1
    predicted = np.zeros(200, dtype=int)
    predicted[50:] = 1  # a rise right at the first changepoint; the second window is missed
    scores = nab_scores([(times, changepoints, predicted)])
    # standard: one hit worth A_tp = 1 and one miss (-1), against null -2 and perfect 2
    assert scores.standard == 50.0
    assert scores.low_fn == pytest.approx(100 * (1 - 2 + 4) / 6, abs=0.01)
    late = np.zeros(200, dtype=int)
    late[100:] = 1  # rises 50 s into a 60 s window: worth about 0 instead of 1
    assert nab_scores([(times, changepoints, late)]).standard == 24.3
    assert binary_scores([(changepoints, predicted)]).fn == 0
