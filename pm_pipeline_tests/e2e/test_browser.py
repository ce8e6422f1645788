"""What an engineer sees in a real browser: headless Chromium opens the Dagster UI on a
scored faulty file and finds the event's axis, severity and times, and the failed ERROR
check of that file."""

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from pm_pipeline.core.parsing.careful import parse_export
from pm_pipeline.core.simulation.sample import planted_fault, write_sample_exports
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.schema import DEFAULT_ROBOT_ID, readings_table
from pm_pipeline.definitions import defs
from pm_pipeline.defs.execution import run_scoring, run_training, run_views
from pm_pipeline_tests.commands import wait_for
from pm_pipeline_tests.conftest import PROJECT_ROOT, skip_or_fail
from pm_pipeline_tests.e2e.daemon_harness import DaemonSite

pytestmark = (
    pytest.mark.slow
)  # dagster-webserver and Chromium; `pytest -m "not slow"` leaves it out


BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1800",
    # The UI is a single-page app: let its GraphQL queries finish before the page is read.
    "--virtual-time-budget=12000",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, DaemonSite]]:
    """A scored faulty file on a temporary instance, its views refreshed, and the Dagster UI
    serving it (started once for the module: it takes a while)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from _served_ui(tmp_path_factory.mktemp("ui"), monkeypatch)


def _served_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, DaemonSite]]:
    site = DaemonSite(tmp_path, f"sqlite:///{tmp_path / 'readings.db'}")
    site.prepare()
    # As if someone had dismissed the UI's "Join the Dagster community" dialog (Dagster keeps
    # that in $DAGSTER_HOME/.nux): it would cover the page in every screenshot.
    (site.home / ".nux").mkdir()
    (site.home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    history, landed, _ = write_sample_exports(tmp_path / "data")
    # The UI shows any detector's events and plots alike: the fast mode fits (PLUMBING_MODE).
    for name in ("PM_DATABASE_URL", "PM_DROP_DIR", "PM_STATE_DIR", "PM_DETECTOR_MODE"):
        monkeypatch.setenv(name, site.env[name])
    # In this process, as `pm-pipeline ingest/train/score` would: the page is what is tested.
    ingest_readings(
        open_engine(site.readings_url),
        readings_table(),
        parse_export(history).readings,
        DEFAULT_ROBOT_ID,
        history.name,
        "sample",
    )
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        assert run_training(defs(), instance, {}).success
        assert run_scoring(defs(), instance, landed, None)[1].success
        assert run_views(defs(), instance).success
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
        wait_for(
            lambda: answers(f"{base}/server_info"),
            120,
            "the Dagster UI to answer",
            lambda: (tmp_path / "webserver.log").read_text(),
        )
        yield base, site
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def page_dom(url: str, folder: Path, screenshot: str | None = None) -> str:
    """The document Chromium renders at ``url``; with ``screenshot``, a picture of it is left
    beside it for a person (and for the pixel checks)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
        return ""
    profile = ["--user-data-dir=" + str(folder / "chromium-profile")]
    if screenshot:
        subprocess.run(
            [chromium, *CHROMIUM_FLAGS, *profile, f"--screenshot={folder / screenshot}", url],
            capture_output=True,
            timeout=120,
            check=True,
        )
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, *profile, "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def page_text(url: str, folder: Path, screenshot: str | None = None) -> str:
    """The text Chromium renders at ``url``."""
    dumped = page_dom(url, folder, screenshot)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dumped)))


def inline_images(dom: str) -> list[str]:
    """The SVG documents of the images shown in the page itself (a "[Show Markdown]" dialog
    is not in the document until it is opened)."""
    sources = re.findall(r'<img[^>]*\ssrc="data:image/svg\+xml,([^"]*)"', dom)
    return [urllib.parse.unquote(html.unescape(source)) for source in sources]


def pixels_of(screenshot: Path, rgb: tuple[int, int, int]) -> int:
    """How many pixels of the screenshot have exactly this colour."""
    image = matplotlib.image.imread(screenshot)[:, :, :3]
    return int((np.round(image * 255).astype(int) == rgb).all(axis=2).sum())


def test_the_partition_page_shows_the_event_and_the_failed_error_check(
    ui: tuple[str, DaemonSite], tmp_path: Path
) -> None:
    base, site = ui
    fault = planted_fault()
    with dg.DagsterInstance.from_config(str(site.home)) as instance:
        # The file's robot-day (day × robot: Dagster joins the keys with "|").
        [day_key] = instance.get_materialized_partitions(dg.AssetKey("file_events"))
    partition = page_text(
        f"{base}/assets/file_events?view=partitions&partition={day_key.replace('|', '%7C')}",
        tmp_path,
        "partition.png",
    )
    assert (tmp_path / "partition.png").stat().st_size > 10_000
    row = re.search(
        rf"event_table .*? (\d+) ({fault.axis}) (ALERT|ERROR) (open|resolved) "
        # The channels column (which channels moved) sits between peak z and the version.
        r"(\S+Z) (\S+Z) ([\d.]+) .*?([0-9a-f]{12})",
        partition,
    )
    assert row is not None, partition[:3000]
    assert row.group(3) == "ERROR"
    start, end = pd.Timestamp(row.group(5)), pd.Timestamp(row.group(6))
    # An event may be dated a little before the wear: a CUSUM event (the default mode) from
    # where its accumulator left zero, which noise can lift a few minutes early (2.4 min on
    # 2026-12-04). The bound holds for every mode.
    assert fault.start - pd.Timedelta(minutes=3) <= start < end
    assert end <= fault.end + pd.Timedelta(minutes=10)
    check = page_text(
        f"{base}/assets/file_events?view=checks&checkDetail=no_error_events", tmp_path
    )
    assert "severity ERROR" in check
    assert re.search(rf"Evaluation result Failed .*? Partition {re.escape(day_key)}", check), check[
        :3000
    ]


CRIMSON = (220, 20, 60)  # the ERROR colour of the inline plots; nothing else in the UI uses it


def test_the_plots_show_on_the_asset_pages_not_behind_a_link(
    ui: tuple[str, DaemonSite], tmp_path: Path
) -> None:
    base, _ = ui
    summary = page_dom(f"{base}/assets/events_summary", tmp_path, "events_summary.png")
    [chart] = [svg for svg in inline_images(summary) if "landed-file events per" in svg]
    assert "ERROR" in chart and "crimson" in chart
    # The picture itself: the scored file's ERROR event is a crimson bar on the page.
    assert pixels_of(tmp_path / "events_summary.png", CRIMSON) > 300
    model = page_dom(f"{base}/assets/axis_models/axis_2", tmp_path, "axis_2.png")
    [score] = [svg for svg in inline_images(model) if "score on the training window" in svg]
    assert "ALERT" in score and "ERROR" in score
    assert pixels_of(tmp_path / "axis_2.png", CRIMSON) > 100  # the dashed ERROR level
