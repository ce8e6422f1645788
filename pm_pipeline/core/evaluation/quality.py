"""Measuring detection quality: train on the start of real readings, inject faults into the
rest, and compare detector modes on the same injections."""

from __future__ import annotations

import pandas as pd

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.evaluation.metrics import score_injection, summarise_quality
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.faults import inject, plan_injections

MODES = ("seed", "robust")


def split(readings: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and scored parts, cut at ``share`` of the time span."""
    times = readings[TIME_COLUMN]
    cut = times.iloc[0] + (times.iloc[-1] - times.iloc[0]) * share
    return (
        readings[times < cut].reset_index(drop=True),
        readings[times >= cut].reset_index(drop=True),
    )


def compare_modes(
    readings: pd.DataFrame, per_kind: int, seed: int, share: float = 0.7
) -> pd.DataFrame:
    """Quality figures of both modes (columns) on one train/score split.

    Parameters
    ----------
    readings
        Normal operation (no known fault).
    per_kind
        Injections per fault kind (axes cycled).
    seed
        Seed of the injection plan.
    share
        Share of the time span used for training.

    Returns
    -------
    pandas.DataFrame
        Rows from :func:`pm_pipeline.core.evaluation.summarise_quality`, a column per mode.
    """
    train, scored = split(readings, share)
    hours = (scored[TIME_COLUMN].iloc[-1] - scored[TIME_COLUMN].iloc[0]).total_seconds() / 3600
    models = {m: fit_model(train, fit_minmax_scaling(train), settings_for_mode(m)) for m in MODES}
    plan = plan_injections(scored, per_kind, seed)
    rows = []
    for planned in plan.to_dict("records"):
        injected, window = inject(
            scored, planned["kind"], planned["axis"], planned["start"], planned["seed"]
        )
        for mode, model in models.items():
            result = score_injection(detect_events(model, injected), window, hours)
            rows.append({"mode": mode, "kind": planned["kind"], **result})
    results = pd.DataFrame(rows)
    return pd.DataFrame(
        {
            mode: summarise_quality(
                results[results["mode"] == mode],
                detect_events(models[mode], scored),
                hours,
                len(models[mode].axis_names),
            )
            for mode in MODES
        }
    )
