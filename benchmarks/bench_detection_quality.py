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

from pm_pipeline.core.evaluation.quality import compare_modes
from pm_pipeline.core.parsing.careful import read_export

REAL_EXPORT = Path(__file__).resolve().parents[2] / "shared" / "data" / "RMBR4-2_export_test.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description="Detection quality, seed vs robust.")
    parser.add_argument("--per-kind", type=int, default=48)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    if not REAL_EXPORT.is_file():
        print(f"the real export is needed at {REAL_EXPORT}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    table = compare_modes(read_export(REAL_EXPORT), args.per_kind, args.seed)
    print(
        f"real export, train 70% / score 30%, {args.per_kind * 5} injections "
        f"({args.per_kind} per kind), {time.perf_counter() - started:.0f} s"
    )
    print(table.round(3).to_string())
    print("targets: recall >= 0.9, false events per hour <= 0.5, median minutes to detect <= 3")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
