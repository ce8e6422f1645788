"""CPU time of scoring a live feed a few readings at a time, against one pass over the same
readings, for each detector mode.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_stream_push.py [--rows 600] [--rounds 3]

A model of each mode is fitted on six hours of the generated robot day; the next ``--rows``
readings are then scored (a) in one pass (``detect_events``), (b) pushed 10 at a time and
(c) pushed one at a time into one stream, as a controller exporting every reading would.
All in this one invocation, interleaved per round; the best round is printed. The events of
(b) and (c) are checked equal to (a)'s before any figure is printed.
"""

import argparse
import dataclasses
import time

import pandas as pd

from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.registry import detect_events, fit_model, stream_events
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import TrainedModel, fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import SAMPLE_START, generate_robot_readings

MODES = ("cusum", "robust", "seed")


def pushed(model: TrainedModel, readings: pd.DataFrame, rows_per_push: int) -> pd.DataFrame:
    stream = stream_events(model)
    for start in range(0, len(readings), rows_per_push):
        stream.push(readings.iloc[start : start + rows_per_push])
    return events_in_order(stream.finish())


def unremembered(model: TrainedModel) -> TrainedModel:
    """The same model under a new conditioning object: its predictor (search trees and the
    neighbours it remembers) is built afresh, so no way is timed on another's answers."""
    if model.conditioning is None:
        return model
    return dataclasses.replace(model, conditioning=dataclasses.replace(model.conditioning))


def cpu_seconds(score, model: TrainedModel) -> tuple[float, pd.DataFrame]:
    model = unremembered(model)
    started = time.process_time()
    events = score(model)
    return time.process_time() - started, events


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU time of one-reading pushes per mode.")
    parser.add_argument("--rows", type=int, default=600, help="readings scored (600)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is kept (3)")
    args = parser.parse_args()
    day = generate_robot_readings(12.0, SAMPLE_START, seed=11)
    cut = SAMPLE_START + pd.Timedelta(hours=6)
    train = day[day[TIME_COLUMN] < cut].reset_index(drop=True)
    scored = day[day[TIME_COLUMN] >= cut].reset_index(drop=True).iloc[: args.rows]
    models = {
        mode: fit_model(train, fit_minmax_scaling(train), settings_for_mode(mode)) for mode in MODES
    }
    ways = {
        "one pass": lambda model: detect_events(model, scored),
        "10 per push": lambda model: pushed(model, scored, 10),
        "1 per push": lambda model: pushed(model, scored, 1),
    }
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for mode, model in models.items():
            whole = None
            for way, score in ways.items():
                seconds, events = cpu_seconds(score, model)
                if whole is None:
                    whole = events
                pd.testing.assert_frame_equal(events, whole, rtol=1e-9, atol=1e-12)
                key = (mode, way)
                best[key] = min(best.get(key, seconds), seconds)
    print(f"{args.rows} readings, best of {args.rounds} rounds, CPU time")
    print(f"{'mode':<8}{'way':<14}{'s':>8}{'ms per push':>13}{'x one pass':>12}")
    for mode in MODES:
        for way in ways:
            seconds = best[(mode, way)]
            pushes = {"one pass": 1, "10 per push": -(-args.rows // 10), "1 per push": args.rows}
            print(
                f"{mode:<8}{way:<14}{seconds:>8.2f}{1000 * seconds / pushes[way]:>13.2f}"
                f"{seconds / best[(mode, 'one pass')]:>12.1f}"
            )


if __name__ == "__main__":
    main()
