import math

import pandas as pd

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.evaluation.promotion import (
    compare_landed_fault,
    evaluate_promotion,
    nothing_to_compare,
)
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


def detected(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """Events as a detector reports them, from (axis, severity, start, end) on 2026-01-06."""
    day = "2026-01-06T"
    return pd.DataFrame(
        {
            "axis": [axis for axis, *_ in rows],
            "severity": [severity for _, severity, *_ in rows],
            "start": [pd.Timestamp(f"{day}{start}Z") for *_, start, _ in rows],
            "end": [pd.Timestamp(f"{day}{end}Z") for *_, end in rows],
        }
    )


def test_a_candidate_must_flag_every_event_the_active_model_flags_in_the_file(
    robot_day: pd.DataFrame,
) -> None:
    active = detected(
        ("axis_2", "ERROR", "10:00:00", "10:15:00"), ("axis_3", "ALERT", "11:00:00", "11:05:00")
    )
    # An overlapping event of either severity catches; one on another axis does not.
    candidate = detected(
        ("axis_2", "ALERT", "10:14:00", "10:30:00"), ("axis_4", "ERROR", "11:00:00", "11:05:00")
    )
    missed = compare_landed_fault("landed.csv", active, candidate)
    assert not missed.passed and missed.source == "landed.csv"
    assert missed.active_events["caught"].tolist() == [True, False]
    assert missed.summary == (
        "the candidate misses 1 of the 2 event(s) the active model flags in landed.csv "
        "(axis_3 2026-01-06 11:00:00 UTC)"
    )
    both = pd.concat([candidate, detected(("axis_3", "ALERT", "10:59:00", "11:00:00"))])
    caught = compare_landed_fault("landed.csv", active, both)
    assert caught.passed and caught.active_events["caught"].all()
    quiet = compare_landed_fault("landed.csv", active.iloc[0:0], candidate)
    assert quiet.passed and "the active model flags nothing in landed.csv" in quiet.summary

    model = fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())
    refused = evaluate_promotion(model, matched(True), min_rows=1000, landed=missed)
    assert not refused.passed and not refused.landed_fault_ok
    assert refused.reasons == (missed.summary,)
    assert refused.to_dict()["landed_fault"] == missed.summary
    fresh = evaluate_promotion(model, matched(True), 1000, nothing_to_compare("no active model"))
    assert fresh.passed and fresh.to_dict()["landed_fault"] == "no active model"
