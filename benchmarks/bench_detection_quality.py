"""Detection quality on the real export: mode `seed` against mode `robust`, side by side.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_detection_quality.py [--per-kind 48] [--seed 2024]

Trains both modes on the first 70% (by time) of ../shared/data/RMBR4-2_export_test.csv and
scores the last 30%: once as it is (every event there is a false alarm: no fault is known in
this export) and once per injected fault (five kinds, ``--per-kind`` each, axes cycled, each a
current increase of at least 40% or equivalent lasting at least 10 minutes).
"""

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from pm_pipeline.core.detection import detect_events
from pm_pipeline.core.evaluation import score_injection, summarise_quality
from pm_pipeline.core.exports import read_export
from pm_pipeline.core.faults import inject, plan_injections
from pm_pipeline.core.model import fit_minmax_scaling, fit_model, params_for_mode
from pm_pipeline.core.schema import TIME_COLUMN

REAL_EXPORT = Path(__file__).resolve().parents[2] / "shared" / "data" / "RMBR4-2_export_test.csv"
MODES = ("seed", "robust")


def split(readings: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training and scored parts, cut at ``share`` of the time span."""
    times = readings[TIME_COLUMN]
    cut = times.iloc[0] + (times.iloc[-1] - times.iloc[0]) * share
    return (
        readings[times < cut].reset_index(drop=True),
        readings[times >= cut].reset_index(drop=True),
    )


def measure(readings: pd.DataFrame, per_kind: int, seed: int, share: float = 0.7) -> pd.DataFrame:
    """Quality figures of both modes (columns) on one train/score split."""
    train, scored = split(readings, share)
    hours = (scored[TIME_COLUMN].iloc[-1] - scored[TIME_COLUMN].iloc[0]).total_seconds() / 3600
    models = {m: fit_model(train, fit_minmax_scaling(train), params_for_mode(m)) for m in MODES}
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
                results[results["mode"] == mode], detect_events(models[mode], scored), hours
            )
            for mode in MODES
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="Detection quality, seed vs robust.")
    parser.add_argument("--per-kind", type=int, default=48)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    if not REAL_EXPORT.is_file():
        print(f"the real export is needed at {REAL_EXPORT}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    table = measure(read_export(REAL_EXPORT), args.per_kind, args.seed)
    print(
        f"real export, train 70% / score 30%, {args.per_kind * 5} injections "
        f"({args.per_kind} per kind), {time.perf_counter() - started:.0f} s"
    )
    print(table.round(3).to_string())
    print("targets: recall >= 0.9, false events per hour <= 0.5, median minutes to detect <= 3")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
