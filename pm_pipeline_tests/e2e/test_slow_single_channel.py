"""A slow single-channel machine (one temperature every 5 minutes) through the plain CLI, as
a user runs it: `ingest` two weeks, `train`, `score` the next day; and the checks `train` and
`score` make before they start a run."""

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pm_pipeline.config.settings import Settings
from pm_pipeline.core.detection.fit_check import least_axes, modes_for_axes
from pm_pipeline.core.detection.registry import DETECTORS
from pm_pipeline_tests import commands

pytestmark = pytest.mark.slow

ROBOTS_YAML = """\
robots:
  oven-1:
    axis_count: 1
    column_map: {time: Zeit, axis_1: Ofentemperatur}
"""
CADENCE = pd.Timedelta(minutes=5)
TRAINING_READINGS = 14 * 288  # two weeks
FAULT_HOURS = (9.0, 13.0)
"""Hours into the scored day during which the oven runs 3 °C hot (10 σ of its noise)."""


def one_channel_mode() -> dict[str, str]:
    """No mode setting: the plain CLI's default mode must model one channel."""
    default = str(Settings.model_fields["detector_mode"].default)
    assert least_axes(default) == 1, f"the default mode {default!r} refuses one channel"
    return {}


def write_exports(folder: Path) -> tuple[Path, Path]:
    """Two weeks of oven temperatures, and the day after them with a stretch running hot."""
    rng = np.random.default_rng(5)
    count = TRAINING_READINGS + 288
    times = pd.date_range("2026-03-02", periods=count, freq=CADENCE, tz="UTC")
    temperature = 180.0 + 0.3 * rng.standard_normal(count)
    hours = (np.arange(count) - TRAINING_READINGS) * CADENCE.total_seconds() / 3600
    temperature[(hours >= FAULT_HOURS[0]) & (hours < FAULT_HOURS[1])] += 3.0
    frame = pd.DataFrame(
        {"Zeit": times.strftime("%Y-%m-%dT%H:%M:%SZ"), "Ofentemperatur": temperature.round(2)}
    )
    history, day = folder / "oven_history.csv", folder / "oven_day.csv"
    frame.iloc[:TRAINING_READINGS].to_csv(history, index=False)
    frame.iloc[TRAINING_READINGS:].to_csv(day, index=False)
    return history, day


def cli(
    folder: Path, *args: str, expect: int = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``pm-pipeline ARGS`` in ``folder`` with nothing configured but the robots file (and
    ``env``)."""
    return commands.run_cli(*args, cwd=folder, env=commands.clean_env(env), expect=expect)


def one_error_line(completed: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith("error: ") and completed.stderr.count("\n") == 1
    return completed.stderr


def test_ingest_train_score_one_channel_every_five_minutes(tmp_path: Path) -> None:
    (tmp_path / "robots.yaml").write_text(ROBOTS_YAML)
    history, day = write_exports(tmp_path)
    mode = one_channel_mode()

    ingested = cli(tmp_path, "ingest", str(history))
    assert f"{TRAINING_READINGS} rows added" in ingested.stdout

    # No model yet: `score` says so before any Dagster run starts.
    refused = one_error_line(cli(tmp_path, "score", str(day), expect=1, env=mode))
    assert "no trained model for robot 'oven-1'" in refused and "scoring run" not in refused

    # A mode that needs several axes is refused up front, naming the modes that fit.
    for needs_more in sorted(set(DETECTORS) - set(modes_for_axes(1)))[:1]:
        wrong = one_error_line(
            cli(tmp_path, "train", expect=1, env={"PM_DETECTOR_MODE": needs_more})
        )
        assert f"mode {needs_more!r} needs readings on at least 2 axes" in wrong
        assert f"fits 1 axis(es): {', '.join(modes_for_axes(1))}" in wrong
        assert "training run" not in wrong

    # Half a day is too short for the default minimum: the line names the setting and flag.
    short = one_error_line(cli(tmp_path, "train", "--last-days", "0.5", expect=1, env=mode))
    assert "holds 145 readings and a version needs at least 300" in short
    assert "PM_MIN_TRAINING_ROWS" in short and "--min-rows 145" in short

    trained = cli(tmp_path, "train", env=mode)
    assert "model version" in trained.stdout and "synthetic recall 1.00" in trained.stdout

    events_csv = tmp_path / "events.csv"
    scored = cli(tmp_path, "score", str(day), "--events-csv", str(events_csv), env=mode)
    assert "oven_day.csv:" in scored.stdout
    events = pd.read_csv(events_csv, parse_dates=["start", "end"])
    first = pd.Timestamp(pd.read_csv(day)["Zeit"].iloc[0])
    fault_start = first + pd.Timedelta(hours=FAULT_HOURS[0])
    fault_end = first + pd.Timedelta(hours=FAULT_HOURS[1])
    assert (events["start"] >= first).all()
    assert (events["axis"] == "axis_1").all()
    caught = events[(events["start"] <= fault_end) & (events["end"] >= fault_start)]
    assert len(caught) >= 1, events
