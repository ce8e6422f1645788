"""Scoring a big export: the streamed path against a straightforward whole-file pandas one.

Run by hand (not a test):

    .venv/bin/python benchmarks/bench_large_file_scoring.py [--rows 1000000 10000000]
        [--url postgresql://postgres@127.0.0.1:5432/test]

For each size, the real export in ../shared/data is repeated (each copy shifted past the
previous one) into a controller-format CSV of that many rows, and a robust model trained on
the real export scores it. Every fifth copy has axis 2 drawing 60% more current for 20
minutes, so there are events to find (and to compare):

* ``streamed``: what ``file_events`` does without the database: Arrow's chunked CSV reader
  feeding :class:`~pm_pipeline.core.detection.robust.RobustStream`;
* ``whole_file_pandas`` (the baseline): the whole file parsed by pandas with the same checks
  and interpretations (``read_export``: every cell validated, no-load words, decimal commas),
  then the same detector over the whole frame in one pass. This was ``file_events`` before
  it streamed;
* ``plain_read_csv`` (for reference): a bare ``pandas.read_csv`` with no checks at all, then
  the one-pass detector: the fastest whole-file script, but it would store ``1e308`` or
  ``NULL`` as it found them;
* ``streamed_into_db`` (with ``--url``): the full ``file_events`` path, also staging every
  chunk into Postgres by COPY and inserting the new rows, in a scratch schema; the file is
  opened once and hashed as it streams, as a landed file is
  (:class:`~pm_pipeline.core.parsing.opened.OpenedExport`).

Each variant runs in a fresh child process, so its peak RSS is its own; all run in one
invocation, on the same file, and their events are checked to be the same.
"""

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.registry import detect_events, fit_model, stream_events
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import TrainedModel, fit_minmax_scaling, model_from_dict
from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.parsing.opened import OpenedExport
from pm_pipeline.core.parsing.stream import open_export_stream
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.engine import normalise_url, open_engine
from pm_pipeline.db.migrate import upgrade_store
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.scoring import ingest_and_detect

REAL_EXPORT = Path(__file__).resolve().parents[2] / "shared" / "data" / "RMBR4-2_export_test.csv"


def write_repeated_export(rows: int, path: Path) -> None:
    """The real export repeated into ``path`` until it holds ``rows`` readings."""
    one = read_export(REAL_EXPORT)
    span = one[TIME_COLUMN].iloc[-1] - one[TIME_COLUMN].iloc[0] + pd.Timedelta(minutes=1)
    copy_path = path.with_name("copy.csv")
    written = 0
    with path.open("w", newline="") as out:
        for k in range(-(-rows // len(one))):
            part = one.iloc[: rows - written].assign(**{TIME_COLUMN: one[TIME_COLUMN] + k * span})
            if k % 5 == 4:  # every fifth copy, axis 2 wears: 60% more current for 20 minutes
                wear = part.index[(part.index >= 20_000) & (part.index < 20_600)]
                part.loc[wear, "axis_2"] *= 1.6
            write_export(part, copy_path)
            lines = copy_path.read_text()
            out.write(lines if k == 0 else lines.split("\n", 1)[1])
            written += len(part)
    copy_path.unlink()


def whole_file_pandas(path: Path, model: TrainedModel) -> tuple[int, pd.DataFrame]:
    """The baseline: the checked pandas parser over the whole file, one-pass detection."""
    readings = read_export(path, ExportFormat())
    return len(readings), detect_events(model, readings)


def plain_read_csv(path: Path, model: TrainedModel) -> tuple[int, pd.DataFrame]:
    """Reference: read everything with bare pandas, convert, detect in one pass."""
    raw = pd.read_csv(path)
    readings = pd.DataFrame({TIME_COLUMN: pd.to_datetime(raw["Time"], utc=True, format="ISO8601")})
    for number, axis in enumerate(AXES, start=1):
        readings[axis] = pd.to_numeric(raw[f"Axis #{number}"], errors="raise").astype("float64")
    return len(readings), detect_events(model, readings)


def streamed(path: Path, model: TrainedModel) -> tuple[int, pd.DataFrame]:
    stream = open_export_stream(path, ExportFormat())
    detector = stream_events(model)
    for chunk in stream.chunks():
        detector.push(chunk)
    return stream.rows, events_in_order(detector.finish())


def streamed_into_db(path: Path, model: TrainedModel, url: str) -> tuple[int, pd.DataFrame]:
    engine = open_engine(url)
    upgrade_store(engine)
    with OpenedExport(path) as opened:
        scored = ingest_and_detect(
            engine, readings_table(), "bench", opened, opened.sha256, model, ExportFormat()
        )
    assert scored.streamed, "the benchmark file should stream"
    return scored.ingest.rows_in_file, scored.events.drop(columns="status")


def _child(variant: str, path: str, model: dict, url: str, queue: multiprocessing.Queue) -> None:
    trained = model_from_dict(model)
    started = time.perf_counter()
    if variant == "streamed":
        rows, events = streamed(Path(path), trained)
    elif variant == "whole_file_pandas":
        rows, events = whole_file_pandas(Path(path), trained)
    elif variant == "plain_read_csv":
        rows, events = plain_read_csv(Path(path), trained)
    else:
        rows, events = streamed_into_db(Path(path), trained, url)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, rows, peak_mb, events))


def run_variant(variant: str, path: Path, model: TrainedModel, url: str) -> tuple:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(variant, str(path), model.to_dict(), url, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def scratch_url(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with sa.create_engine(normalise_url(base)).begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    return normalise_url(f"{base}{separator}options=-csearch_path%3D{schema}"), schema


def main() -> int:
    parser = argparse.ArgumentParser(description="Streamed vs whole-file scoring of big exports.")
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--url", default=os.environ.get("PM_BENCH_DATABASE_URL"))
    args = parser.parse_args()
    if not REAL_EXPORT.is_file():
        print(f"the real export is needed at {REAL_EXPORT}", file=sys.stderr)
        return 1
    real = read_export(REAL_EXPORT)
    model = fit_model(real, fit_minmax_scaling(real), settings_for_mode("robust"))
    variants = ["streamed", "whole_file_pandas", "plain_read_csv"]
    variants += ["streamed_into_db"] if args.url else []
    print(f"model {model.version} (robust, trained on the real export); figures per variant")
    print(
        f"{'rows':>11} {'variant':<18}{'seconds':>9}{'rows/s':>12}{'peak RSS MB':>13}{'events':>8}"
    )
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "big_export.csv"
            write_repeated_export(rows, path)
            results = {}
            for variant in variants:
                url, schema = scratch_url(args.url) if variant == "streamed_into_db" else ("", "")
                try:
                    results[variant] = run_variant(variant, path, model, url)
                finally:
                    if schema:
                        with sa.create_engine(normalise_url(args.url)).begin() as connection:
                            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        for variant, (seconds, count, peak, events) in results.items():
            assert count == rows, f"{variant} read {count} rows, expected {rows}"
            print(
                f"{rows:>11,} {variant:<18}{seconds:>9.2f}{rows / seconds:>12,.0f}"
                f"{peak:>13.0f}{len(events):>8}"
            )
        baseline_events = results["whole_file_pandas"][3]
        for result in results.values():
            pd.testing.assert_frame_equal(result[3], baseline_events, check_exact=False, rtol=1e-9)
        speedup = results["whole_file_pandas"][0] / results["streamed"][0]
        print(f"{rows:>11,} streamed speed-up vs whole-file pandas: {speedup:.1f}x (target >= 3x)")
        plain = results["plain_read_csv"][0] / results["streamed"][0]
        print(f"{rows:>11,} streamed speed-up vs bare read_csv:     {plain:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
