"""Reading a big fleet's robots file: LibYAML against PyYAML's pure-Python parser, and the
read of a file unchanged since the last one.

Run by hand (not a test; seconds):

    .venv/bin/python benchmarks/bench_robots_file.py [--robots 100 500 2000] [--repeat 5]

The landed-file sensor reads the robots file at every tick (every 5 s), and so do the fleet
view and each command that picks a robot. For each fleet size, side by side in one run: a
robots file of that many UR3-like entries (axis count, a column map of eight columns, two
context columns), and the CPU seconds of one ``load_fleet`` (the median of ``--repeat``
reads): a file read for the first time, with the parser ``pm_pipeline.config.robots`` uses
(LibYAML where PyYAML was built with it) and with the pure-Python one (the baseline, what
every read took before); and a read of the same file again, whose parse is kept (what each
sensor tick takes while nobody edits the file).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from pm_pipeline.config import robots
from pm_pipeline.config.settings import load_settings


def robots_file(folder: Path, count: int) -> Path:
    columns = ", ".join(f"axis_{axis}: Current_J{axis - 1}" for axis in range(1, 8))
    lines = ["robots:"] + [
        f"  ur3-{number:04d}: {{axis_count: 7, column_map: {{time: Timestamp, {columns}}}, "
        "context_columns: [Temperature_J0, Speed_J0]}"
        for number in range(count)
    ]
    path = folder / f"robots_{count}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def seconds_per_read(path: Path, loader: type, repeat: int, kept: bool = False) -> float:
    """CPU seconds of one read: the file's first (its kept parse forgotten before each) or,
    with ``kept``, a read of the file as it was at the read before."""
    robots.SAFE_LOADER = loader
    settings = load_settings({"PM_ROBOTS_FILE": str(path)})
    robots.load_fleet(settings)
    times = []
    for _ in range(repeat):
        if not kept:
            robots._parsed_entries.cache_clear()  # a first read each time
        started = time.process_time()
        read = len(robots.load_fleet(settings).robot_ids)
        times.append(time.process_time() - started)
        assert read == int(path.stem.split("_")[1])
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description="Reading a big fleet's robots file.")
    parser.add_argument("--robots", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    used = robots.SAFE_LOADER
    print(f"parser used: {used.__name__}; baseline: SafeLoader (pure Python)")
    print(
        f"{'robots':>7} {'file KB':>8} {used.__name__ + ' s':>15} {'SafeLoader s':>13} "
        f"{'ratio':>6} {'unchanged s':>12}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for count in args.robots:
            path = robots_file(Path(folder), count)
            fast = seconds_per_read(path, used, args.repeat)
            slow = seconds_per_read(path, yaml.SafeLoader, args.repeat)
            again = seconds_per_read(path, used, args.repeat, kept=True)
            size = path.stat().st_size / 1024
            print(
                f"{count:>7} {size:>8.0f} {fast:>15.3f} {slow:>13.3f} {slow / fast:>6.1f} "
                f"{again:>12.3f}"
            )
    robots.SAFE_LOADER = used


if __name__ == "__main__":
    main()
