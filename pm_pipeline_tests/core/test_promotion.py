import math

import pandas as pd

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.evaluation.promotion import evaluate_promotion
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling


def matched(error_caught: bool) -> pd.DataFrame:
    return pd.DataFrame({"level": ["ALERT", "ERROR"], "caught": [True, error_caught]})


def test_promotion_gates(robot_day: pd.DataFrame) -> None:
    model = fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())
    assert evaluate_promotion(model, matched(True), min_rows=1000).passed
    missed = evaluate_promotion(model, matched(False), min_rows=1000)
    assert not missed.passed and "missed 1 injected error-level run" in missed.reasons[0]
    small = evaluate_promotion(model, matched(True), min_rows=10**9)
    assert not small.passed and "fewer than" in small.reasons[0]
    axis = model.axes["axis_1"]
    broken = type(model)(
        **{
            **model.__dict__,
            "axes": {**model.axes, "axis_1": type(axis)(**{**axis.__dict__, "slope": math.nan})},
        }
    )
    nan = evaluate_promotion(broken, matched(True))
    assert not nan.coefficients_finite and not nan.passed
