"""What `pm-pipeline` prints around Dagster: no telemetry banner or instance-file notice, a
retry line the moment a database outage is met, and the progress bar's pieces."""

import io
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd

from pm_pipeline.cli.progress import estimated_rows, progress_bar
from pm_pipeline.cli.watch import RunWatcher
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.defs.assets.scoring import SCORED_ROWS_LOG
from pm_pipeline_tests.commands import PLUMBING_MODE

CLI = Path(sys.executable).parent / "pm-pipeline"
DAGSTER_NOTICES = ("Telemetry", "usage statistics", "Welcome to Dagster", "dagster.yaml")
CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:1/test"


def environment(**overrides: str) -> dict[str, str]:
    unset = ("DAGSTER_HOME", "PM_DATABASE_URL", "DATABASE_URL", "PM_STATE_DIR", "DAGSTER_PG_URL")
    kept = {k: v for k, v in os.environ.items() if k not in unset}
    return {**kept, **PLUMBING_MODE, **overrides}


def test_no_dagster_banner_or_notice_in_a_home_of_your_own(tmp_path: Path) -> None:
    # A DAGSTER_HOME the user chose, still empty: Dagster warns that it has no dagster.yaml
    # and, with telemetry on by default, prints its banner on the first run.
    home = tmp_path / "my_dagster_home"
    home.mkdir()
    env = environment(DAGSTER_HOME=str(home))
    ran = subprocess.run(
        [str(CLI), "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert ran.returncode == 0, ran.stderr
    assert "== pm_pipeline summary ==" in ran.stdout
    for notice in DAGSTER_NOTICES:
        assert notice not in ran.stdout + ran.stderr
    assert "enabled: false" in (home / "dagster.yaml").read_text()
    # A home with a settings file of its own, which leaves telemetry at Dagster's default
    # (on): the CLI's runs still print no banner, and the file stays the user's.
    other = tmp_path / "configured_home"
    other.mkdir()
    (other / "dagster.yaml").write_text("# my settings\n")
    env["DAGSTER_HOME"] = str(other)
    scored = subprocess.run(
        [str(CLI), "score", "data/sample_landed.csv"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert scored.returncode == 0, scored.stderr
    for notice in DAGSTER_NOTICES:
        assert notice not in scored.stdout + scored.stderr
    assert (other / "dagster.yaml").read_text() == "# my settings\n"


def test_database_outage_during_score_says_retrying_at_once(
    tmp_path: Path, robot_day: pd.DataFrame
) -> None:
    export = tmp_path / "export.csv"
    write_export(robot_day.head(50), export)
    env = environment(PM_DATABASE_URL=CLOSED_PORT_URL, PM_STATE_DIR=str(tmp_path / "state"))
    with subprocess.Popen(
        [str(CLI), "score", str(export)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None and process.stdout is not None
        first = process.stderr.readline()
        # The first retry waits 2 s and two more follow (6 s, 14 s): the line came while the
        # command was still trying, not with the final error.
        still_running = process.poll() is None
        rest = process.stderr.read()
        stdout = process.stdout.read()
        code = process.wait(timeout=600)
    assert first.startswith("warning: database unreachable (cannot connect to database 'test'")
    assert first.rstrip().endswith("retrying in 2 s (retry 1 of 3)")
    assert still_running
    lines = rest.splitlines()
    assert lines[:2] == [
        "warning: database still unreachable, retrying in 6 s (retry 2 of 3)",
        "warning: database still unreachable, retrying in 14 s (retry 3 of 3)",
    ]
    assert code == 1 and len(lines) == 3 and lines[2].startswith("error: scoring run ")
    assert "127.0.0.1:1" in lines[2] and "Traceback" not in rest + stdout


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_on_a_terminal_after_a_second_and_follows_the_run() -> None:
    terminal, piped = Terminal(), io.StringIO()
    assert progress_bar(10, "rows", "x", piped).disable
    with progress_bar(1000, "rows", "scoring big.csv", terminal) as bar:
        assert not bar.disable and bar.delay == 1.0
        watcher = RunWatcher(3, bar)
        log = SCORED_ROWS_LOG.format(rows=400)
        watcher(dg.EventLogEntry(None, "DEBUG", log, "run", 0.0, step_key="file_events"))
        assert bar.n == 400 and terminal.getvalue() == ""  # nothing within the first second
        bar.start_t -= 2  # as if the run had been going for two seconds
        bar.last_print_t -= 2
        watcher(dg.EventLogEntry(None, "DEBUG", log.replace("400", "1200"), "run", 0.0))
        assert bar.n == 1200 and bar.total == 1200  # an estimate that fell short grows
    shown = terminal.getvalue()
    assert "scoring big.csv" in shown and "100%" in shown


def test_estimated_rows_of_an_export(tmp_path: Path, robot_day: pd.DataFrame) -> None:
    export = tmp_path / "export.csv"
    write_export(robot_day.head(5000), export)
    estimate = estimated_rows(export)
    assert estimate is not None and 4500 <= estimate <= 5500
