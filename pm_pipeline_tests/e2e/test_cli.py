"""The `pm-pipeline` command as a new user runs it, checked against the database with SQL.

Each test starts the real command as a new process at least once; its further calls run the
same entry point in the test process (:mod:`pm_pipeline_tests.in_process`), without the 2–3 s
of CPU a new process spends importing the code location."""

import re
import sqlite3
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import detector_for
from pm_pipeline_tests import commands
from pm_pipeline_tests.in_process import run_main

# `pm-pipeline run` once for the module (under xdist, the module stays on one worker).
pytestmark = pytest.mark.slow


def run_cli(cwd: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """``pm-pipeline ARGS`` in ``cwd`` with nothing configured; it must exit ``expect``."""
    return commands.run_cli(*args, cwd=cwd, env=commands.clean_env(), expect=expect)


def run_here(cwd: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """``pm-pipeline ARGS`` in ``cwd`` with nothing configured, as :func:`run_cli` runs it,
    in this process."""
    return run_main(*args, env={}, cwd=cwd, expect=expect)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh folder where `pm-pipeline run` has run once with no configuration at all."""
    folder = tmp_path_factory.mktemp("user")
    completed = run_cli(folder, "run")
    (folder / "run.out").write_text(completed.stdout)
    return folder


def summary_value(summary: str, label: str) -> str:
    match = re.search(rf"^{label}\s+(.*)$", summary, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{summary}"
    return match.group(1)


def test_run_summary_is_true(workdir: Path) -> None:
    summary = (workdir / "run.out").read_text()
    database = workdir / ".pm_state" / "readings.db"
    assert str(database) in summary
    with sqlite3.connect(database) as connection:
        rows, first, last = connection.execute(
            "SELECT count(*), min(timestamp_recorded), max(timestamp_recorded) FROM pm_readings"
        ).fetchone()
        [active] = connection.execute(
            "SELECT model_version FROM pm_model_registry WHERE is_active"
        ).fetchone()
        landed = connection.execute(
            "SELECT severity, count(*) FROM pm_events WHERE source = 'sample_landed.csv' "
            "GROUP BY severity"
        ).fetchall()
    readings = summary_value(summary, "readings")
    assert readings.startswith(f"{rows} rows")
    assert pd.Timestamp(first).strftime("%Y-%m-%dT%H:%M:%SZ") in readings
    assert pd.Timestamp(last).strftime("%Y-%m-%dT%H:%M:%SZ") in readings
    assert summary_value(summary, "model").startswith(f"version {active}")
    counts = dict(landed)
    assert summary_value(summary, "landed file") == (
        f"sample_landed.csv: {sum(counts.values())} events ({counts.get('ALERT', 0)} ALERT, "
        f"{counts.get('ERROR', 0)} ERROR)"
    )
    assert "recall 1.00" in summary_value(summary, "synthetic")
    assert "caught" in summary_value(summary, "planted wear")
    assert (workdir / ".pm_state" / "dagster_home").is_dir()


def test_rerun_adds_no_rows_and_score_writes_csv(workdir: Path) -> None:
    ingest = run_here(workdir, "ingest", "data/sample_export.csv")
    assert ingest.returncode == 0, ingest.stderr
    rows = len((workdir / "data" / "sample_export.csv").read_text().splitlines()) - 1
    assert f"0 rows added, {rows} already present" in ingest.stdout
    out = workdir / "events.csv"
    scored = run_cli(workdir, "score", "data/sample_landed.csv", "--events-csv", str(out))
    assert scored.returncode == 0, scored.stderr
    events = pd.read_csv(out)
    assert list(events.columns) == [
        "event_id",
        "axis",
        "severity",
        "status",
        "change",
        "start",
        "end",
        "duration_s",
        "z_mean",
        "z_peak",
        "p_value",
        "model_version",
        "contributions",
        "top_contributors",
    ]
    # Which channels moved, largest share first: an event's axis is its top contributor.
    assert all(
        shown.startswith(f"{axis} ")
        for shown, axis in zip(events["top_contributors"], events["axis"], strict=True)
    )
    assert events["start"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$").all()
    assert set(events["severity"]) <= {"ALERT", "ERROR"}
    assert set(events["status"]) <= {"open", "resolved"}
    # Scored again: the same events, each found as it was (no change), listed all the same.
    assert events["event_id"].is_unique


def test_user_errors_are_one_line_without_traceback(workdir: Path) -> None:
    bad = workdir / "bad.csv"
    bad.write_text("time,axis_1\n2022-01-01T00:00:00Z,1\n")
    # Each through a new process: what reaches the terminal is the claim, Dagster's own
    # log handlers included.
    for args in (
        ("ingest", str(bad)),
        ("score", "data/sample_landed.csv", "--model-version", "nope"),
        ("score", "missing.csv"),
    ):
        completed = run_cli(workdir, *args, expect=1)
        assert "Traceback" not in completed.stderr + completed.stdout
        assert completed.stderr.startswith("error: ")


def test_models_lineage_and_rollback(workdir: Path) -> None:
    listed = run_cli(workdir, "models")
    assert listed.returncode == 0 and "passed  *" in listed.stdout
    # Each version's method (the mode it was fitted with: auto picks one per robot), and what
    # that method scores.
    assert "method" in listed.stdout.splitlines()[1]
    methods = [line for line in listed.stdout.splitlines() if line.startswith("method ")]
    assert methods, listed.stdout
    for line in methods:
        mode = line.removeprefix("method ").split(":", 1)[0]
        assert line == f"method {mode}: {detector_for(mode).describe().scores}"
    with sqlite3.connect(workdir / ".pm_state" / "readings.db") as connection:
        event_id, version, scored_by = connection.execute(
            "SELECT event_id, model_version, run_id FROM pm_events "
            "WHERE source = 'sample_landed.csv' ORDER BY event_id LIMIT 1"
        ).fetchone()
        trained_by, rows = connection.execute(
            "SELECT run_id, row_count FROM pm_model_registry WHERE model_version = ?", (version,)
        ).fetchone()
        [synthetic_id] = connection.execute(
            "SELECT min(event_id) FROM pm_events WHERE source = ?", (f"synthetic:{version}",)
        ).fetchone()
    lineage = run_here(workdir, "lineage", str(event_id))
    assert lineage.returncode == 0, lineage.stderr
    for fact in (
        version,
        scored_by,
        trained_by,
        f"trained on    {rows} readings",
        "(the active version then)",
        "sample_landed.csv",
    ):
        assert fact in lineage.stdout
    synthetic = run_here(workdir, "lineage", str(synthetic_id)).stdout
    assert f"the synthetic verification set of model version {version}" in synthetic
    assert "synthetic_events materialization" in synthetic and "file_events" not in synthetic
    assert run_here(workdir, "models", "active").stdout.strip() == version
    before = run_here(workdir, "models", "active", "--at", "2000-01-01T00:00:00Z", expect=1)
    assert before.returncode == 1 and "no model version of robot-1 was active" in before.stdout
    unknown = run_here(workdir, "models", "activate", "0123456789ab", expect=1)
    assert unknown.returncode == 1 and "unknown model version" in unknown.stderr
    again = run_here(workdir, "models", "activate", version)
    assert again.returncode == 0
    with sqlite3.connect(workdir / ".pm_state" / "readings.db") as connection:
        reasons = [
            r
            for (r,) in connection.execute(
                "SELECT reason FROM pm_model_activations ORDER BY activation_id"
            )
        ]
    assert reasons == ["passed its checks", "activated by hand"]


def test_export_writes_pages_summaries_and_a_workbook(workdir: Path, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "export"
    completed = run_cli(workdir, "export", "--out", str(out), "--page-rows", "20000")
    assert completed.returncode == 0, completed.stderr
    pages = sorted((out / "readings").glob("readings_*.csv"))
    with sqlite3.connect(workdir / ".pm_state" / "readings.db") as connection:
        [rows] = connection.execute("SELECT count(*) FROM pm_readings").fetchone()
        [events] = connection.execute(
            "SELECT count(*) FROM pm_events WHERE source NOT LIKE 'synthetic%'"
        ).fetchone()
    assert len(pages) == -(-rows // 20000)
    assert sum(len(pd.read_csv(page)) for page in pages) == rows
    assert len(pd.read_csv(out / "latest_readings.csv")) == 20
    assert len(pd.read_csv(out / "events.csv")) == events
    assert list(pd.read_csv(out / "axis_summary.csv")["axis"]) == [f"axis_{i}" for i in range(1, 9)]
    sheets = load_workbook(out / "pm_pipeline_summary.xlsx", read_only=True).sheetnames
    assert sheets == [
        "data_health",
        "gaps",
        "axis_summary",
        "top_events",
        "latest_readings",
        "readings_sample",
    ]


def test_a_formula_file_name_is_exported_as_text(workdir: Path, tmp_path: Path) -> None:
    """A landed file named like a formula, scored, then exported: no cell of the CSV files or
    the workbook runs it; its numbers (negative ones too) stay numbers."""
    from openpyxl import load_workbook

    name = '=HYPERLINK("evil.invalid","open").csv'
    landed = workdir / name
    landed.write_bytes((workdir / "data" / "sample_landed.csv").read_bytes())
    scored = run_cli(workdir, "score", name, "--events-csv", str(tmp_path / "scored.csv"))
    assert f"{name}: " in scored.stdout
    out = tmp_path / "export"
    run_here(workdir, "export", "--out", str(out))
    events = pd.read_csv(out / "events.csv")
    sources = set(events["source"])
    assert "'" + name in sources and name not in sources
    assert pd.api.types.is_float_dtype(events["z_mean"])
    texts = [
        cell.value
        for sheet in load_workbook(out / "pm_pipeline_summary.xlsx").worksheets
        for row in sheet.iter_rows()
        for cell in row
    ]
    assert "'" + name in texts
    assert not [text for text in texts if isinstance(text, str) and text.startswith("=")]
    numbers = [value for value in texts if isinstance(value, float)]
    assert numbers and all(not isinstance(value, str) for value in numbers)
