"""Detection quality on the real export: modes seed, robust and cusum side by side.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_detection_quality.py [--seeds 11 12 13 14 15]
        [--per-kind 1] [--splits 4] [--feed-rows 250] [--csv faults.csv]
        [--modes seed robust cusum] [--kinds bursts jitter …]

For every split of ../shared/data/RMBR4-2_export_test.csv (four by default: train on the
first 50% or 70%, or on the last 70% or 50%, and score the rest), each mode is trained once
and scores the clean scored part (every event there is a false alarm) and, for every seed,
``--per-kind`` faults of each of the eight kinds of ``pm_pipeline.core.simulation.wear``,
each in a slice from an hour before the fault to half an hour after it: whole, as a live
feed of ``--feed-rows``-reading files pushed into one stream, and as files scored alone.
The default (4 splits × 5 seeds × 8 kinds = 160 faults, three modes) takes about ten
minutes on two cores; ``--per-kind 3`` or more seeds make a bigger run. ``--modes`` and
``--kinds`` make a smaller one to iterate on (each fault is the one the full run scores).
"""

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from pm_pipeline.core.evaluation.harness import SPLITS, run_harness
from pm_pipeline.core.evaluation.harness_report import formatted, summarise
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.simulation.wear import KINDS

REAL_EXPORT = Path(__file__).resolve().parents[2] / "shared" / "data" / "RMBR4-2_export_test.csv"
MODES = ("seed", "robust", "cusum")


def main() -> int:
    parser = argparse.ArgumentParser(description="Detection quality: seed, robust and cusum.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13, 14, 15])
    parser.add_argument("--per-kind", type=int, default=1, help="faults per kind, split, seed")
    parser.add_argument("--splits", type=int, default=len(SPLITS), choices=range(1, 5))
    parser.add_argument("--feed-rows", type=int, default=250)
    parser.add_argument("--csv", type=Path, help="write one row per fault and mode here")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), help="default: every kind")
    args = parser.parse_args()
    if not REAL_EXPORT.is_file():
        print(f"the real export is needed at {REAL_EXPORT}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    faults, clean = run_harness(
        read_export(REAL_EXPORT),
        {mode: settings_for_mode(mode) for mode in args.modes},
        seeds=args.seeds,
        per_kind=args.per_kind,
        splits=SPLITS[: args.splits],
        feed_rows=args.feed_rows,
        kinds=args.kinds,
        progress=lambda line: print(
            f"  {line} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True
        ),
    )
    if args.csv is not None:
        faults.to_csv(args.csv, index=False)
    hours = clean.groupby("split")["hours"].first().sum()
    print(
        f"real export, {args.splits} splits ({hours:.1f} h scored), seeds "
        f"{' '.join(map(str, args.seeds))}, {len(faults) // len(args.modes)} faults, live feed of "
        f"{args.feed_rows}-reading files; {time.perf_counter() - started:.0f} s"
    )
    with pd.option_context("display.width", 200):
        print(formatted(summarise(faults, clean)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
