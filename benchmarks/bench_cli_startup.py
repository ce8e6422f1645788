"""Start-up time of `pm-pipeline --help`, against bare Python and the imports it used to pay.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_cli_startup.py [--runs 10]

Each variant is a whole new process, timed from spawn to exit, best of ``--runs``; all run
in this one invocation, interleaved, so a busy machine slows them alike:

- ``python -c pass``: the interpreter and site-packages start-up, the floor;
- ``pm-pipeline --help``: the console script, the parser and nothing else;
- ``pm-pipeline events --help`` and ``score --help``: a command's page, same path;
- the old eager cost: ``import pandas, sqlalchemy, dagster`` and the resource module that the
  CLI imported before it printed anything (``pm_pipeline.defs.resources``), what every
  `--help` paid before handlers were imported lazily.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EAGER = "import pandas, sqlalchemy, dagster, pm_pipeline.defs.resources, pm_pipeline.db.registry"
VARIANTS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "pm-pipeline --help": [str(BIN / "pm-pipeline"), "--help"],
    "pm-pipeline events --help": [str(BIN / "pm-pipeline"), "events", "--help"],
    "pm-pipeline score --help": [str(BIN / "pm-pipeline"), "score", "--help"],
    "old eager imports (pandas, sqlalchemy, dagster, resources)": [sys.executable, "-c", EAGER],
}


def once(command: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description="Start-up time of pm-pipeline --help.")
    parser.add_argument("--runs", type=int, default=10, help="processes per variant (10)")
    runs = parser.parse_args().runs
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(runs):
        for name, command in VARIANTS.items():
            times[name].append(once(command))
    floor = min(times["python -c pass"])
    print(f"{'variant':<60}{'best s':>8}{'median s':>10}{'over python':>13}")
    for name, measured in times.items():
        best, median = min(measured), sorted(measured)[len(measured) // 2]
        print(f"{name:<60}{best:>8.3f}{median:>10.3f}{best - floor:>+13.3f}")
    help_best = min(times["pm-pipeline --help"])
    eager_best = min(times[list(VARIANTS)[-1]])
    print(
        f"\n`pm-pipeline --help` best {help_best:.3f} s (target <= 0.5 s); the eager imports "
        f"alone took {eager_best:.3f} s, {eager_best / help_best:.1f}x as long."
    )


if __name__ == "__main__":
    main()
