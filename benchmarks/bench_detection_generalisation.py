"""Detection on data nobody tuned for: every mode side by side, one table per data set.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_detection_generalisation.py [--kawasaki-seeds 11 12 13 14 15]
        [--kawasaki-splits 4] [--kawasaki-modes auto mspc] [--skip-kawasaki]
        [--modes mspc auto] [--mspc-variant LABEL JSON ...] [--skab-only]

``--modes`` narrows every table to those modes; ``--mspc-variant 'no settle'
'{"settle_spans": null}'`` adds a row of ``mspc`` with those settings beside them (to
measure one setting's effect on every data set); ``--skab-only`` stops after the SKAB
tables (half a minute, for iterating).

Tables, each with every mode (seed, robust, cusum, mspc, and auto, the default), the
always-alarm baseline and the T²+Q reference (SKAB's PCA monitor, rebuilt on scikit-learn):

1. SKAB, its own protocol (first 400 rows of each of the 34 files train, the rest test):
   F1, FAR and MAR pooled over all rows, NAB standard / low FP / low FN (60 s windows);
   the default once more as ``pm-pipeline score`` scores a file after training (the
   training readings replayed first, so the detector starts warm, not cold at the first
   test row); then the split check: the default (cold and replayed) and the reference on
   the even- and the odd-numbered files of each folder apart.
2. The UR3 cobot: train on the first half, score the second (normal operation): events
   per hour of readings (gaps excluded); then 3-σ rises, falls, added noise and broken
   relations planted in the second half, one at a time, on every current.
3. The Kawasaki harness (``pm_pipeline.core.evaluation.harness``): eight fault kinds
   injected into the real export, false events per hour on its clean parts.
4. One temperature every 5 minutes (28 days, daily cycle): train on 14 days, score 14 with
   an 8 °C rise, an 8 °C fall and added noise planted, one at a time.
5. Drift and wear: ramps of growing slope (σ of the channel per hour) planted on SKAB's
   anomaly-free run and on the UR3: share caught once a ramp has risen 1 σ, and median
   minutes from there (slopes too slow to rise 1 σ within the scored readings are left out).
"""

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.evaluation.continuous import (
    Planted,
    fault_rows,
    onset,
    slow_series,
    spread_faults,
)
from pm_pipeline.core.evaluation.harness import SPLITS, run_harness
from pm_pipeline.core.evaluation.harness_report import summarise
from pm_pipeline.core.evaluation.robots import false_events, hours_of_readings, ur3_readings
from pm_pipeline.core.evaluation.skab import (
    always_alarm,
    mode_predictor,
    read_skab_file,
    readings_frame,
    run_skab,
    skab_files,
    t2q_predictions,
)
from pm_pipeline.core.model.params import DetectorSettings, MspcSettings, settings_for_mode
from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import AXES, TIME_COLUMN

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MODES = ("seed", "robust", "cusum", "mspc", "auto")
DETECTORS: dict[str, DetectorSettings] = {m: settings_for_mode(m) for m in MODES}
"""The detectors of every table, by row label (narrowed and extended by the options)."""
RAMPS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
"""Wear ramps planted, in σ of the channel per hour."""


REPLAYED = "training replayed first (as pm-pipeline score)"
"""Row label of the default scored the way the CLI scores the first file after training:
its training readings replayed first, so the detector starts warm (the other rows start
cold at the first test row, as SKAB's protocol has it)."""


def default_label() -> str | None:
    """The default's row label among the detectors (mspc when auto is left out), if any."""
    return next((name for name in ("auto", "mspc") if name in DETECTORS), None)


def skab_table() -> pd.DataFrame:
    files = skab_files(DATA / "skab")
    predictors = {name: mode_predictor(settings) for name, settings in DETECTORS.items()}
    default = default_label()
    if default is not None:
        predictors[f"{default}, {REPLAYED}"] = mode_predictor(DETECTORS[default], True)
    predictors |= {"always alarm": always_alarm, "T²+Q (reference)": t2q_predictions}
    rows = {}
    for name, predictor in predictors.items():
        try:
            scores = run_skab(files, predictor)
        except PipelineError as error:
            rows[name] = {"refused": str(error)[:60]}
            continue
        rows[name] = {
            "F1": round(scores.binary.f1, 3),
            "FAR %": round(scores.binary.far, 1),
            "MAR %": round(scores.binary.mar, 1),
            "NAB standard": scores.nab.standard,
            "NAB low FP": scores.nab.low_fp,
            "NAB low FN": scores.nab.low_fn,
            "ms per file": round(1000 * scores.seconds / len(files), 1),
        }
    return pd.DataFrame(rows).T


def skab_halves_table() -> pd.DataFrame:
    """The split check: each folder's files cut by the parity of their number into two
    halves of 17, the default (or mspc), any mspc variants and the reference scored on
    each. A choice of method that held on one half only would show here as a gap between
    the halves."""
    files = skab_files(DATA / "skab")
    halves = {
        parity: [f for f in files if int(f.name.rsplit("/", 1)[-1]) % 2 == remainder]
        for parity, remainder in (("even", 0), ("odd", 1))
    }
    default = default_label() or "mspc"
    predictors = {
        name: mode_predictor(settings)
        for name, settings in DETECTORS.items()
        if name == default or name not in MODES
    }
    if default in DETECTORS:
        predictors[f"{default}, {REPLAYED}"] = mode_predictor(DETECTORS[default], True)
    predictors["T²+Q (reference)"] = t2q_predictions
    rows = {}
    for name, predictor in predictors.items():
        for parity, chosen in halves.items():
            scores = run_skab(chosen, predictor)
            rows[f"{name}, {parity} files ({len(chosen)})"] = {
                "F1": round(scores.binary.f1, 3),
                "FAR %": round(scores.binary.far, 1),
                "MAR %": round(scores.binary.mar, 1),
                "NAB standard": scores.nab.standard,
            }
    return pd.DataFrame(rows).T


def flagged_runs(flags: np.ndarray) -> int:
    """Alarm runs (rises) of a row-wise prediction."""
    return int(np.sum(np.diff(np.r_[0, flags]) == 1))


def reference_events(train: pd.DataFrame, scored: pd.DataFrame, predictor) -> int:
    axes = [a for a in AXES if train[a].notna().any()]
    return flagged_runs(predictor(train[axes].ffill().bfill(), scored[axes].ffill().bfill()))


def normal_table(train: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    cadence = float(scored[TIME_COLUMN].diff().dt.total_seconds().median())
    hours = hours_of_readings(scored[TIME_COLUMN], cadence)
    for mode, chosen in DETECTORS.items():
        try:
            run, _ = false_events(train, scored, chosen)
        except PipelineError as error:
            rows[mode] = {"refused": str(error)[:60]}
            continue
        rows[mode] = {"events": run.events, "hours": round(run.hours, 2)}
        rows[mode] |= {"events per hour": round(run.per_hour, 2), "s": round(run.seconds, 1)}
    for name, predictor in (("always alarm", always_alarm), ("T²+Q (reference)", t2q_predictions)):
        count = reference_events(train, scored, predictor)
        rows[name] = {"events": count, "hours": round(hours, 2)}
        rows[name] |= {"events per hour": round(count / hours, 2)}
    return pd.DataFrame(rows).T


def planted_table(train: pd.DataFrame, scored: pd.DataFrame, faults: list[Planted]):
    settings = {}
    for mode, chosen in DETECTORS.items():
        try:
            fault_rows(train, scored.iloc[:50], {mode: chosen}, [])
            settings[mode] = chosen
        except PipelineError:
            continue
    rows = fault_rows(train, scored, settings, faults)
    table = rows.pivot_table(index="mode", columns="kind", values="caught", aggfunc="mean")
    table["minutes to detect (median)"] = rows.groupby("mode")["minutes_to_detect"].median()
    table["other events per hour"] = rows.groupby("mode")["false_per_h"].mean()
    return table.round(2)


def ramp_table(train: pd.DataFrame, scored: pd.DataFrame, channels: list[str]) -> pd.DataFrame:
    start = scored[TIME_COLUMN].iloc[len(scored) // 10]
    end = scored[TIME_COLUMN].iloc[-1]
    faults = [Planted("ramp", c, start, end, slope) for c in channels for slope in RAMPS]
    return planted_ramps(train, scored, faults)


def planted_ramps(train, scored, faults) -> pd.DataFrame:
    """Per mode and slope: share of ramps caught once they had risen 1 σ, and the median
    minutes from there to the event; '–' where the scored readings end first."""
    rows = fault_rows(train, scored, DETECTORS, faults)
    reachable = [f for f in faults if onset(f) < f.end]
    rows = rows[rows["size"].isin({f.size for f in reachable})]
    caught = rows.pivot_table(index="mode", columns="size", values="caught", aggfunc="mean")
    minutes = rows.pivot_table(index="mode", columns="size", values="minutes_to_detect")
    table = caught.round(2).astype(str) + " / " + minutes.reindex_like(caught).round(0).astype(str)
    table.columns = [f"{size:g} σ/h" for size in caught.columns]
    return table


def kawasaki_table(seeds: list[int], splits: int, modes: list[str]) -> pd.DataFrame:
    readings = read_export(DATA / "RMBR4-2_export_test.csv")
    detectors = {m: settings_for_mode(m) for m in modes}
    faults, clean = run_harness(readings, detectors, seeds=seeds, splits=SPLITS[:splits])
    return summarise(faults, clean)


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def show(title: str, table: pd.DataFrame, started: float) -> None:
    print(f"\n## {title} ({time.perf_counter() - started:.0f} s into the run)\n")
    print(table.to_markdown())
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description="Detection on data nobody tuned for.")
    parser.add_argument("--kawasaki-seeds", type=int, nargs="+", default=[11, 12, 13, 14, 15])
    parser.add_argument("--kawasaki-splits", type=int, default=len(SPLITS), choices=range(1, 5))
    parser.add_argument("--skip-kawasaki", action="store_true")
    parser.add_argument(
        "--kawasaki-modes", nargs="+", default=list(MODES), choices=MODES, metavar="MODE"
    )
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES, metavar="MODE")
    parser.add_argument(
        "--mspc-variant",
        nargs=2,
        action="append",
        default=[],
        metavar=("LABEL", "JSON"),
        help="a row of mspc with these settings, e.g. 'no settle' '{\"settle_spans\": null}'",
    )
    parser.add_argument("--skab-only", action="store_true", help="stop after the SKAB tables")
    args = parser.parse_args()
    DETECTORS.clear()
    DETECTORS.update({m: settings_for_mode(m) for m in args.modes})
    for label, overrides in args.mspc_variant:
        DETECTORS[label] = dataclasses.replace(MspcSettings(), **json.loads(overrides))
    started = time.perf_counter()
    print(
        f"# Detection benchmark, {pd.Timestamp.now(tz='UTC'):%Y-%m-%d %H:%M} UTC, commit {commit()}"
    )
    show("SKAB, standard protocol, 34 files", skab_table(), started)
    show("SKAB split check: even- and odd-numbered files", skab_halves_table(), started)
    if args.skab_only:
        return 0
    ur3 = ur3_readings(DATA / "UR3_cobotops_part1.csv")
    half = len(ur3) // 2
    train, scored = ur3.iloc[:half].reset_index(drop=True), ur3.iloc[half:].reset_index(drop=True)
    show(
        "UR3, trained on the first half, second half (normal)", normal_table(train, scored), started
    )
    currents = [f"axis_{i}" for i in range(1, 8)]
    faults = spread_faults(scored, currents, size=3.0, minutes=5)
    show(
        "UR3, 3-σ faults planted in the second half (share caught)",
        planted_table(train, scored, faults),
        started,
    )
    slow = slow_series(days=28, cadence_s=300, seed=2)
    train, scored = slow.iloc[:4032], slow.iloc[4032:].reset_index(drop=True)
    faults = spread_faults(
        scored, ["axis_1"], size=8.0 / 1.43, minutes=480, kinds=("rise", "fall", "noise")
    )
    show(
        "One temperature at 5 min: 14 days train, 14 scored (clean)",
        normal_table(train, scored),
        started,
    )
    show(
        "One temperature at 5 min: 8 °C faults (share caught)",
        planted_table(train, scored, faults),
        started,
    )
    free = readings_frame(
        read_skab_file(DATA / "skab" / "anomaly-free" / "anomaly-free.csv", "free").channels
    )
    train, scored = free.iloc[:2000], free.iloc[2000:].reset_index(drop=True)
    show(
        "SKAB anomaly-free run: 33 min train, 2 h scored (clean)",
        normal_table(train, scored),
        started,
    )
    channels = [f"axis_{i}" for i in range(1, 9)]
    show(
        "SKAB anomaly-free run: wear ramps, share caught by slope",
        ramp_table(train, scored, channels),
        started,
    )
    ur3_train, ur3_scored = ur3.iloc[:half], ur3.iloc[half:].reset_index(drop=True)
    show(
        "UR3: wear ramps, share caught by slope",
        ramp_table(ur3_train, ur3_scored, currents),
        started,
    )
    if not args.skip_kawasaki:
        table = kawasaki_table(args.kawasaki_seeds, args.kawasaki_splits, args.kawasaki_modes)
        show("Kawasaki harness (faults injected into the real export)", table, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
