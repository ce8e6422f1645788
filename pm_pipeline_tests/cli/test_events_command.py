"""`pm-pipeline events` through the real command, on SQLite and on the Postgres server, over
events stored by the project's own writers; and what `export` and `lineage` say of the same
events, the synthetic verification set's kept apart from the landed files'.

Each test starts the command as a new process at least once; its further calls (filters,
flags) run the same entry point in the test process (:mod:`pm_pipeline_tests.in_process`)."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN, synthetic_source
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import read_events, replace_events
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.registry import register_model
from pm_pipeline.db.schema import DEFAULT_READINGS_TABLE, DEFAULT_TIME_COLUMN, readings_table
from pm_pipeline.services.feedback import label_event
from pm_pipeline_tests.commands import clean_env, run_cli
from pm_pipeline_tests.in_process import run_main

CLI = Path(sys.executable).parent / "pm-pipeline"
ROBOT = "robot-1"  # the configured robot when nothing is set


def event(axis: str, severity: str, start: pd.Timestamp, minutes: float) -> dict:
    end = start + pd.Timedelta(minutes=minutes)
    return {
        "axis": axis,
        "severity": severity,
        "start": start,
        "end": end,
        "duration_s": minutes * 60,
        "z_mean": 3.5,
        "z_peak": 4.25,
        "p_value": 0.001,
        "n_samples": int(minutes * 30),
    }


@pytest.fixture
def stored(database_url: str, robot_day: pd.DataFrame, tmp_path: Path) -> dict[str, str]:
    """Readings, a model and events: an ALERT early on, an ERROR that ended a minute before
    the newest reading (closed), and an ALERT still going at the newest reading (open); plus
    another robot's event and the synthetic set's (stored under its old name and its new
    one), which the listing leaves out. ``version`` is the model's."""
    engine = open_engine(database_url)
    model = fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())
    for robot in (ROBOT, "robot-2"):  # a version is named with its robot
        register_model(engine, model, robot, "run-train", {})
    table = readings_table(DEFAULT_READINGS_TABLE, DEFAULT_TIME_COLUMN)
    ingest_readings(engine, table, robot_day, ROBOT, "day.csv", "sha")
    first, last = robot_day[TIME_COLUMN].iloc[0], robot_day[TIME_COLUMN].iloc[-1]
    day = pd.DataFrame(
        [
            event("axis_1", "ALERT", first + pd.Timedelta(hours=1), 5),
            event("axis_2", "ERROR", last - pd.Timedelta(minutes=11), 10),
            event("axis_3", "ALERT", last - pd.Timedelta(minutes=3), 3),
        ]
    )
    replace_events(
        engine, "day.csv", day, model.version, "run-a", ROBOT, ["resolved", "resolved", "open"]
    )
    replace_events(engine, "other.csv", day.head(1), model.version, "run-b", "robot-2")
    replace_events(
        engine, "synthetic", day.tail(1), model.version, "run-c", ROBOT
    )  # as stored before
    replace_events(engine, synthetic_source(model.version), day, model.version, "run-d", ROBOT)
    engine.dispose()
    return {
        "PM_DATABASE_URL": database_url,
        "PM_STATE_DIR": str(tmp_path / "state"),
        "version": model.version,
    }


def events_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DAGSTER_HOME")}
    return subprocess.run(
        [str(CLI), "events", *args],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def events_here(
    stored: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``pm-pipeline events ARGS`` on the stored events, in this process."""
    return lambda *args: run_main(
        "events", *args, env=settings_of(stored), cwd=tmp_path, capsys=capsys, expect=None
    )


def exported_events(
    stored: dict[str, str],
    folder: Path,
    *flags: str,
    capsys: pytest.CaptureFixture[str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], pd.DataFrame]:
    """``pm-pipeline export --out FOLDER FLAGS`` in this process, and the events it wrote."""
    completed = run_main(
        "export", "--out", folder, *flags, cwd=folder.parent, env=settings_of(stored), capsys=capsys
    )
    return completed, pd.read_csv(folder / "events.csv")


def settings_of(stored: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in stored.items() if k.startswith("PM_")}


def listed(completed: subprocess.CompletedProcess[str]) -> list[list[str]]:
    """The table's rows, split into cells (no cell holds spaces)."""
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "robot", "axis", "severity"]
    return [line.split() for line in lines[1:-1]]


def test_events_newest_first_with_ids_and_filters(
    stored: dict[str, str], events_here: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    rows = listed(events_cli(stored))
    assert [row[2] for row in rows] == ["axis_3", "axis_2", "axis_1"]
    assert {row[1] for row in rows} == {ROBOT} and {row[-1] for row in rows} == {"day.csv"}
    ids = [int(row[0]) for row in rows]
    assert ids == sorted(ids, reverse=True)
    assert rows[1][3:6] == ["ERROR", rows[1][4], rows[1][5]] and rows[1][6:8] == ["10.0", "min"]
    assert rows[0][8] == "4.25"
    assert [row[2] for row in listed(events_here("--severity", "error"))] == ["axis_2"]
    since = rows[1][5]  # the ERROR's end: it and the later ALERT are still going then
    assert [row[2] for row in listed(events_here("--since", since))] == ["axis_3", "axis_2"]
    assert [row[2] for row in listed(events_here("--robot", "robot-2"))] == ["axis_1"]


def test_open_means_still_going_when_the_readings_end(
    stored: dict[str, str], events_here: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    assert [row[2] for row in listed(events_cli(stored, "--open"))] == ["axis_3"]
    none = events_here("--open", "--severity", "ERROR")
    assert none.returncode == 0 and none.stdout.strip() == f"no open ERROR events for {ROBOT}"


def test_bad_since_is_one_error_line(stored: dict[str, str]) -> None:
    completed = events_cli(stored, "--since", "last tuesday")
    assert completed.returncode == 1
    assert completed.stderr.startswith("error: ") and completed.stderr.count("\n") == 1
    assert "--since" in completed.stderr and "ISO 8601" in completed.stderr


def test_export_leaves_the_synthetic_set_out_unless_asked(
    stored: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = clean_env(stored)
    plain = run_cli("export", "--out", tmp_path / "plain", cwd=tmp_path, env=env)
    assert "3 landed-file events and the summaries" in plain.stdout
    events = pd.read_csv(tmp_path / "plain" / "events.csv")
    assert set(events["source"]) == {"day.csv"} and len(events) == 3
    assert set(events["origin"]) == {"landed file"}
    # Who each event is and where it stands come first; none is labelled yet.
    assert list(events.columns[:7]) == [
        "event_id",
        "robot_id",
        "axis",
        "severity",
        "status",
        "change",
        "label",
    ]
    assert list(events.sort_values("start_ts")["change"]) == ["resolved", "resolved", "opened"]
    assert events["label"].isna().all()
    everything, events = exported_events(
        stored, tmp_path / "all", "--include-synthetic", capsys=capsys
    )
    assert "3 landed-file events and 4 synthetic verification events" in everything.stdout
    origins = events.groupby("origin")["source"].agg(set).to_dict()
    assert origins == {
        "landed file": {"day.csv"},
        "synthetic verification set": {"synthetic", f"synthetic:{stored['version']}"},
    }
    for folder in ("plain", "all"):  # a summary of the robot's files, with the flag too
        top = pd.read_csv(tmp_path / folder / "top_events.csv")
        assert set(top["source"]) == {"day.csv"} and len(top) == 3


def test_lineage_of_a_synthetic_event_names_its_verification_set(
    stored: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env, version = clean_env(stored), stored["version"]
    engine = open_engine(stored["PM_DATABASE_URL"])
    ids = read_events(engine, robot_id=ROBOT).groupby("source")["event_id"].min()
    engine.dispose()
    for source in (f"synthetic:{version}", "synthetic"):  # today's name, and the old one
        said = run_main(
            "lineage", str(ids[source]), cwd=tmp_path, env=settings_of(stored), capsys=capsys
        ).stdout
        assert f"source        the synthetic verification set of model version {version}" in said
        assert "(being verified before promotion)" in said
        assert "the synthetic_events materialization of run run-" in said
        assert "file_events" not in said
    landed = run_cli("lineage", str(ids["day.csv"]), cwd=tmp_path, env=env).stdout
    assert (
        "source        day.csv" in landed
        and "file_events materialization of file 'day.csv'" in landed
    )


def test_a_label_follows_its_event_through_a_rescore_and_says_what_it_judged(
    stored: dict[str, str],
    robot_day: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Another model version rescores day.csv and stores its events anew (new ids, the
    labelled ALERT now an ERROR): `export` and `lineage` show the label on the new event, as
    training counts it, and `lineage` says which event and model version it was given to."""
    engine = open_engine(stored["PM_DATABASE_URL"])
    landed = read_events(engine, "day.csv", ROBOT).sort_values("start_ts")
    labelled = int(landed["event_id"].iloc[0])
    label_event(engine, labelled, "false-alarm", "ann", "door opened")
    other = fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings(z_alert=2.5))
    assert other.version != stored["version"]
    register_model(engine, other, ROBOT, "run-retrain", {})
    first, last = robot_day[TIME_COLUMN].iloc[0], robot_day[TIME_COLUMN].iloc[-1]
    rescored = pd.DataFrame(
        [
            event("axis_1", "ERROR", first + pd.Timedelta(hours=1), 5),
            event("axis_2", "ERROR", last - pd.Timedelta(minutes=11), 10),
        ]
    )
    replace_events(engine, "day.csv", rescored, other.version, "run-e", ROBOT, ["resolved"] * 2)
    now = read_events(engine, "day.csv", ROBOT).sort_values("start_ts")
    engine.dispose()
    again = int(now["event_id"].iloc[0])
    assert again != labelled

    exported = exported_events(stored, tmp_path / "out")[1].set_index("event_id")["label"]
    assert exported.fillna("").to_dict() == {again: "false-alarm", int(now["event_id"].iloc[1]): ""}
    # The synthetic set holds events of the same axes and starts; none is labelled.
    everything = exported_events(stored, tmp_path / "all", "--include-synthetic")[1]
    everything = everything.fillna({"label": ""})
    assert everything.groupby("origin")["label"].agg(sorted).to_dict() == {
        "landed file": ["", "false-alarm"],
        "synthetic verification set": [""] * 4,
    }
    said = run_main(
        "lineage", str(again), cwd=tmp_path, env=settings_of(stored), capsys=capsys
    ).stdout
    given = f"given when it was event {labelled}, an ALERT of model version {stored['version']}"
    [line] = [line for line in said.splitlines() if line.startswith("  labelled")]
    assert line.startswith("  labelled      false-alarm by ann at ")
    assert line.endswith(f" (door opened); {given}")
    assert f"model version {other.version}" in said


def test_all_robots_lists_the_fleets_events(
    stored: dict[str, str],
    robot_day: pd.DataFrame,
    events_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    # robot-2 is not in a robots file: its stored readings make it one of the fleet.
    engine = open_engine(stored["PM_DATABASE_URL"])
    ingest_readings(engine, readings_table(), robot_day.head(10), "robot-2", "r2.csv", "sha2")
    engine.dispose()
    rows = listed(events_here("--all-robots"))
    assert sorted(row[1] for row in rows) == [ROBOT, ROBOT, ROBOT, "robot-2"]
