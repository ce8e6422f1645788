"""fleet_health in a real browser: headless Chromium opens its asset page and finds each
robot's status, the robot in ALARM first, and the quarantined files counted."""

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import replace_events
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.registry import activate_model, register_model
from pm_pipeline.db.schema import DEFAULT_ROBOT_ID, readings_table
from pm_pipeline.defs.assets.fleet import fleet_health
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline.services.landing import quarantine_file
from pm_pipeline_tests.cli.test_events_command import event
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.conftest import PROJECT_ROOT
from pm_pipeline_tests.e2e.daemon_harness import DaemonSite
from pm_pipeline_tests.e2e.test_browser import BIN, answers, free_port, page_text

pytestmark = pytest.mark.slow  # dagster-webserver and Chromium


@pytest.fixture
def served(
    tmp_path: Path, robot_day: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """robot-1 with an open ERROR and a quarantined file, robot-2 with nothing but a
    quarantined file, fleet_health materialized, and the UI serving it."""
    site = DaemonSite(tmp_path, f"sqlite:///{tmp_path / 'readings.db'}")
    site.prepare()
    (site.home / ".nux").mkdir()
    (site.home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    for name in ("PM_DATABASE_URL", "PM_DROP_DIR", "PM_STATE_DIR"):
        monkeypatch.setenv(name, site.env[name])
    engine = open_engine(site.readings_url)
    ingest_readings(engine, readings_table(), robot_day, DEFAULT_ROBOT_ID, "day.csv", "sha")
    model = fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())
    register_model(engine, model, DEFAULT_ROBOT_ID, None, {})
    activate_model(engine, model.version, DEFAULT_ROBOT_ID, "test")
    last = robot_day[TIME_COLUMN].iloc[-1]
    error = pd.DataFrame([event("axis_2", "ERROR", last - pd.Timedelta(minutes=5), 5)])
    replace_events(engine, "day.csv", error, model.version, None, DEFAULT_ROBOT_ID, ["open"])
    for folder, name in ((site.drop, "cut.csv"), (site.drop / "robot-2", "empty.csv")):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("")
        quarantine_file(folder / name, f"{name}: the file is empty; export it again.")
    monkeypatch.setenv("PM_STALE_AFTER_MINUTES", str(60 * 24 * 365 * 5))
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        resources = pipeline_resources(ReadingsDatabaseResource(url=site.readings_url))
        assert dg.materialize([fleet_health], instance=instance, resources=resources).success
    port = free_port()
    log = (tmp_path / "webserver.log").open("w")
    server = subprocess.Popen(
        [
            str(BIN / "dagster-webserver"),
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env=site.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{base}/server_info"), 120, "the Dagster UI to answer")
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_fleet_health_shows_each_robots_status_and_its_quarantined_files(
    served: str, tmp_path: Path
) -> None:
    text = page_text(f"{served}/assets/fleet_health", tmp_path, "fleet_health.png")
    assert "FLEET CRITICAL: 1 ALARM, 1 NO DATA" in text, text[:3000]
    # The inline table: worst first, each robot with its status and why.
    statuses = text[text.index("statuses") :]
    assert statuses.index("robot-1 ALARM 1 open ERROR event(s)") < statuses.index(
        "robot-2 NO DATA no readings stored"
    ), statuses[:2000]
    # The whole table: robot-1's open ERROR and each robot's quarantined file.
    rows = text[text.index("fleet ") :]
    assert "robot-1 ALARM 1 open ERROR event(s) 1 0" in rows, rows[:3000]
    assert "robot-2 NO DATA no readings stored 0 0 - - - - 1" in rows, rows[:3000]
