"""What labelling false alarms buys on the real export: fewer repeated false events after
retraining, at what cost in recall.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_label_feedback.py [--seeds 11 12] [--splits 4]
        [--mode cusum] [--margin 300]

For every split of ../shared/data/RMBR4-2_export_test.csv (the harness's four), a model is
trained on the training part; the scored part is cut in two. The first half is the
feedback period: every event the model raises there is a false alarm (no fault is known
in the export), and the engineer labels each one ``false-alarm``. The robot then retrains
on the training part plus the feedback period, twice:

* today: the feedback period's events are left out of training (widened by the margin,
  ``PM_TRAINING_EXCLUDE_MARGIN_SECONDS``), as every stored event was before labels;
* labels: the events labelled ``false-alarm`` go back in (:mod:`pm_pipeline.core.feedback`).

Both models score the second half (clean): each event there is a false event, and one on
an axis that had a labelled false alarm is a repeat. Both then score faults of every kind
of :mod:`pm_pipeline.core.simulation.wear` planted in the second half (the harness's
planning, ``--seeds`` × 8 kinds per split): recall is the share caught. The figure for the
docs is the change in repeats and the recall given up.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.evaluation.harness import AFTER, SPLITS, WARM_UP, hits, part, plan_faults
from pm_pipeline.core.feedback.labels import newest_labels, spans_to_exclude
from pm_pipeline.core.model.exclusion import exclude_flagged
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.wear import KINDS

REAL_EXPORT = Path(__file__).resolve().parents[2] / "shared" / "data" / "RMBR4-2_export_test.csv"
TARGET = "repeats -50% or more at a recall loss of 0.02 or less"


def retrained(
    train: pd.DataFrame,
    feedback: pd.DataFrame,
    events: pd.DataFrame,
    settings,
    margin_s: float,
    labelled: bool,
):
    """The model retrained on ``train`` + ``feedback``, the feedback period's events left
    out (today) or labelled false-alarm and kept (labels)."""
    window = pd.concat([train, feedback], ignore_index=True)
    stored = pd.DataFrame(
        {
            "event_id": np.arange(len(events)),
            "axis": events["axis"],
            "start_ts": events["start"],
            "end_ts": events["end"],
            "model_start": train[TIME_COLUMN].iloc[0],
        }
    )
    labels = pd.DataFrame(
        {
            "event_id": stored["event_id"],
            "axis": stored["axis"],
            "event_start": stored["start_ts"],
            "event_end": stored["end_ts"],
            "label": "false-alarm",
            "labelled_at": pd.Timestamp.now(tz="UTC"),
        }
    )
    newest = newest_labels(labels if labelled else labels.iloc[0:0])
    kept, exclusion = exclude_flagged(window, spans_to_exclude(stored, newest, None), margin_s)
    return fit_model(kept, fit_minmax_scaling(kept), settings, exclusion.readings)


def caught(model, scored: pd.DataFrame, fault) -> bool:
    times = scored[TIME_COLUMN]
    window = scored[(times >= fault.start - WARM_UP) & (times <= fault.end + AFTER)]
    window = window.reset_index(drop=True)
    rng = np.random.default_rng(fault.seed)
    injected, _ = KINDS[fault.kind].inject(window, fault.axis, fault.start, fault.end, rng)
    return bool(len(hits(detect_events(model, injected), fault)))


def run_split(readings, split, number, settings, seeds, margin_s) -> tuple[dict, list[dict]]:
    train, scored = part(readings, split.train), part(readings, split.scored)
    middle = scored[TIME_COLUMN].iloc[len(scored) // 2]
    feedback = scored[scored[TIME_COLUMN] < middle].reset_index(drop=True)
    later = scored[scored[TIME_COLUMN] >= middle].reset_index(drop=True)
    first = fit_model(train, fit_minmax_scaling(train), settings)
    labelled_events = detect_events(first, feedback)
    axes = set(labelled_events["axis"])
    models = {
        name: retrained(train, feedback, labelled_events, settings, margin_s, name == "labels")
        for name in ("today", "labels")
    }
    row: dict = {"split": split.name, "labelled": len(labelled_events)}
    for name, model in models.items():
        found = detect_events(model, later)
        row[f"false_{name}"] = len(found)
        row[f"repeats_{name}"] = int(found["axis"].isin(axes).sum())
    faults = []
    for seed in seeds:
        for fault in plan_faults(later, seed, 1, seed + 3 * number):
            faults.append(
                {
                    "split": split.name,
                    "kind": fault.kind,
                    **{name: caught(model, later, fault) for name, model in models.items()},
                }
            )
    return row, faults


def main() -> int:
    parser = argparse.ArgumentParser(description="Repeated false events with and without labels.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12])
    parser.add_argument("--splits", type=int, default=len(SPLITS), choices=range(1, 5))
    parser.add_argument("--mode", default="cusum", choices=("seed", "robust", "cusum"))
    parser.add_argument("--margin", type=float, default=300.0, help="exclusion margin, s")
    args = parser.parse_args()
    if not REAL_EXPORT.is_file():
        print(f"the real export is needed at {REAL_EXPORT}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    readings = read_export(REAL_EXPORT)
    settings = settings_for_mode(args.mode)
    rows, faults = [], []
    for number, split in enumerate(SPLITS[: args.splits]):
        row, scored = run_split(readings, split, number, settings, args.seeds, args.margin)
        rows.append(row)
        faults += scored
        print(f"  {split.name} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    table, faulted = pd.DataFrame(rows), pd.DataFrame(faults)
    print(table.to_string(index=False))
    repeats = table[["repeats_today", "repeats_labels"]].sum()
    false = table[["false_today", "false_labels"]].sum()
    recall = faulted[["today", "labels"]].mean()
    change = (repeats["repeats_labels"] - repeats["repeats_today"]) / max(
        repeats["repeats_today"], 1
    )
    print(
        f"\nmode {args.mode}, {len(faulted)} planted faults, {table['labelled'].sum()} events "
        "labelled false-alarm in the feedback periods"
    )
    print(
        f"repeated false events   today {repeats['repeats_today']:>4}   with labels "
        f"{repeats['repeats_labels']:>4}   ({change:+.0%})"
    )
    print(
        f"all false events        today {false['false_today']:>4}   with labels "
        f"{false['false_labels']:>4}"
    )
    print(
        f"recall                  today {recall['today']:.3f}   with labels "
        f"{recall['labels']:.3f}   (loss {recall['today'] - recall['labels']:+.3f})"
    )
    print(f"target: {TARGET}; {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
