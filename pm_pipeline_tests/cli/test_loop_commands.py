"""The engineer's loop through the real command: `fleet --check` exit codes, labelling an
event, recording maintenance (seen in `lineage`), and quarantined files listed and retried."""

import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import read_events, replace_events
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.registry import activate_model, register_model
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.landing import quarantine_file
from pm_pipeline_tests.cli.test_events_command import event
from pm_pipeline_tests.commands import clean_env, run_cli
from pm_pipeline_tests.in_process import run_main

ROBOT = "robot-1"
Completed = subprocess.CompletedProcess[str]


@pytest.fixture
def site(sqlite_url: str, robot_day: pd.DataFrame, tmp_path: Path) -> dict[str, str]:
    """A robot with readings and an active model, no events yet; data counts as fresh for a
    year (the simulated day is in January)."""
    engine = open_engine(sqlite_url)
    ingest_readings(engine, readings_table(), robot_day, ROBOT, "day.csv", "sha")
    model = fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())
    register_model(engine, model, ROBOT, "run-train", {})
    activate_model(engine, model.version, ROBOT, "test")
    engine.dispose()
    return clean_env(
        {
            "PM_DATABASE_URL": sqlite_url,
            "PM_STATE_DIR": str(tmp_path / "state"),
            "PM_DROP_DIR": str(tmp_path / "incoming"),
            "PM_STALE_AFTER_MINUTES": str(60 * 24 * 365 * 5),
            "version": model.version,
        }
    )


def cli(site: dict[str, str], *args: str, expect: int = 0):
    return run_cli(*args, cwd=Path(site["PM_STATE_DIR"]).parent, env=site, expect=expect)


@pytest.fixture
def here(site: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Callable[..., Completed]:
    """``pm-pipeline ARGS`` on the site in this process, the same entry point as the real
    command: each command below is started as a process at least once (``fleet --check``
    for three of its exit codes), its further calls run here."""

    def run(*args: str, expect: int = 0) -> Completed:
        cwd = Path(site["PM_STATE_DIR"]).parent
        return run_main(*args, env=site, cwd=cwd, capsys=capsys, expect=expect)

    return run


def store(site: dict[str, str], robot_day: pd.DataFrame, severity: str) -> int:
    engine = open_engine(site["PM_DATABASE_URL"])
    last = robot_day[TIME_COLUMN].iloc[-1]
    found = pd.DataFrame([event("axis_2", severity, last - pd.Timedelta(minutes=5), 5)])
    replace_events(engine, f"{severity}.csv", found, site["version"], "run", ROBOT, ["open"])
    return int(read_events(engine, f"{severity}.csv", ROBOT)["event_id"].iloc[0])


def test_fleet_check_exits_with_the_worst_status_and_labels_change_it(
    site: dict[str, str], robot_day: pd.DataFrame, here: Callable[..., Completed]
) -> None:
    healthy = cli(site, "fleet", "--check")
    assert healthy.stdout.splitlines()[0] == "FLEET OK: 1 OK"
    alert = store(site, robot_day, "ALERT")
    watch = here("fleet", "--check", expect=1)
    assert watch.stdout.startswith("FLEET WARNING: 1 WATCH (robot-1 WATCH)")
    error = store(site, robot_day, "ERROR")
    alarm = cli(site, "fleet", "--check", expect=2)
    assert alarm.stdout.startswith("FLEET CRITICAL: 1 ALARM")
    assert "1 open ERROR event(s)" in alarm.stdout

    labelled = cli(
        site, "events", "label", str(alert), "false-alarm", "--note", "door", "--by", "ann"
    )
    assert f"event {alert} of robot-1 labelled false-alarm" in labelled.stdout
    here("events", "label", str(error), "confirmed")
    # Without --check the listing never fails; one labelled real fault of two.
    listing = here("fleet").stdout
    assert "precision" in listing.splitlines()[1] and "0.50" in listing
    bad = here("events", "label", "999", "confirmed", expect=1)
    assert bad.stderr.startswith("error: no event with id 999")

    # Maintenance resolves both open events: the robot waits for a model on the new baseline.
    done = cli(
        site,
        "robots",
        "maintenance",
        ROBOT,
        "--at",
        str(robot_day[TIME_COLUMN].iloc[-10]),
        "--note",
        "new gearbox",
    )
    assert "2 open event(s) resolved" in done.stdout
    stale = here("fleet", "--check", expect=1)
    assert "STALE MODEL" in stale.stdout and "maintenance: new gearbox" in stale.stdout
    lineage = here("lineage", str(error)).stdout
    assert "resolved (recorded at" in lineage and "maintenance at" in lineage
    assert "labelled      confirmed by" in lineage
    assert "given when it was" not in lineage  # resolved since, but the event it judged
    assert "maintenance   " in lineage and "new gearbox" in lineage
    # A mistyped robot gets no record that nothing would show.
    typo = cli(site, "robots", "maintenance", "robot-l", "--at", "2026-01-01", expect=1)
    assert "robot 'robot-l' is unknown" in typo.stderr and "use one of robot-1" in typo.stderr
    # No database to ask: the check cannot tell.
    unknown = cli(
        {**site, "PM_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
        "fleet",
        "--check",
        expect=3,
    )
    assert unknown.stdout.startswith("FLEET UNKNOWN")


def test_quarantined_files_are_listed_and_put_back(
    site: dict[str, str], here: Callable[..., Completed]
) -> None:
    drop = Path(site["PM_DROP_DIR"])
    (drop / "robot-2").mkdir(parents=True)
    bad = drop / "robot-2" / "half.csv"
    bad.write_text("not,a,header\n")
    quarantine_file(bad, "half.csv: no time column; fix the header and drop it again.")
    listing = cli(site, "quarantine").stdout
    assert "robot-2  half.csv  half.csv: no time column" in listing
    assert "1 quarantined file(s)" in listing
    assert "robot-2" in here("fleet").stdout  # its own row, its file counted
    back = here("quarantine", "--retry", "half.csv")
    assert bad.is_file() and "back at" in back.stdout
    assert "no quarantined files" in here("quarantine").stdout
    missing = here("quarantine", "--retry", "half.csv", expect=1)
    assert "no quarantined file named 'half.csv'" in missing.stderr
