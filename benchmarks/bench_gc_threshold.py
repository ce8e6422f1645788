"""What the cycle collector costs a command: pm_pipeline's settings against Python's default.

Run by hand (not a test; about half a minute per round on the robust mode, a minute and a
half on the default):

    .venv/bin/python benchmarks/bench_gc_threshold.py [--rounds 5] [--mode robust]

``pm_pipeline/__init__.py`` sets the youngest generation's threshold to
``YOUNG_COLLECTION_THRESHOLD`` (Python's default is 700) in every process that imports the
package, and ``pm_pipeline/definitions.py`` freezes what loading the code location made. Side
by side in one run, alternating so a busy spell falls on every variant: ``pm-pipeline run``
(sample data, ingest, train, score, the views) in a folder of its own, as a process with both
settings, with the threshold only, and with neither. Printed per variant: the median CPU
seconds (user and system, the process and its children), wall seconds and peak resident
memory.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pm_pipeline import YOUNG_COLLECTION_THRESHOLD
from pm_pipeline_tests.commands import UNSET

PYTHON_DEFAULT = (700, 10, 10)
ENTRY = (
    "import gc, sys; import pm_pipeline.definitions; {reset}"
    "from pm_pipeline.cli.app import main; sys.exit(main(sys.argv[1:]))"
)
VARIANTS = {
    "threshold and freeze": ENTRY.format(reset=""),
    "threshold only": ENTRY.format(reset="gc.unfreeze(); "),
    "Python's default": ENTRY.format(reset=f"gc.unfreeze(); gc.set_threshold(*{PYTHON_DEFAULT}); "),
}
"""pm_pipeline as it is; without the freeze of the code location (``gc.unfreeze`` right
after it loads); and without either (the baseline, what every process did before, but for
the import of the code location, which ran at the package's threshold)."""


def one_run(code: str, mode: str) -> tuple[float, float, float]:
    """CPU seconds, wall seconds and peak resident MB of one ``pm-pipeline run``."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env["PM_DETECTOR_MODE"] = mode
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as `make` runs it: bytecode cached
    with tempfile.TemporaryDirectory() as folder, open(Path(folder) / "log", "w") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", code, "run"], cwd=folder, env=env, stdout=log, stderr=log
        )
        # The child's own usage, its children's included (Popen.wait would not give it).
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if process.returncode:
            raise SystemExit((Path(folder) / "log").read_text())
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description="The cycle collector's cost to a command.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", default="robust", help="PM_DETECTOR_MODE of the runs")
    args = parser.parse_args()
    print(f"threshold {YOUNG_COLLECTION_THRESHOLD:,}; mode {args.mode}; {args.rounds} rounds")
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in VARIANTS}
    for round_number in range(args.rounds):
        for name, code in VARIANTS.items():
            results[name].append(one_run(code, args.mode))
        print(f"round {round_number + 1} done", file=sys.stderr)
    baseline = statistics.median(cpu for cpu, _, _ in results["Python's default"])
    print(f"{'variant':<28} {'CPU s':>8} {'wall s':>8} {'peak MB':>8} {'CPU vs default':>15}")
    for name, runs in results.items():
        cpu = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        print(
            f"{name:<28} {cpu:>8.2f} {wall:>8.2f} {statistics.median(r[2] for r in runs):>8.0f}"
            f" {cpu / baseline - 1:>+14.1%}"
        )


if __name__ == "__main__":
    main()
