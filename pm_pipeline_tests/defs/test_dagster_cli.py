"""Dagster's own commands (``dagster``, ``dg``) typed in the repo root, as a Dagster user does:
with nothing set they run on the embedded SQLite instance, with DAGSTER_PG_URL set on Postgres.

PM_STATE_DIR points the embedded instance at a temporary folder, so nothing stays in the
repository; Dagster's own throw-away folder (``.tmp_dagster_home_*`` in the root) is removed
by Dagster when the command ends, and the tests check that it was.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from pm_pipeline_tests.commands import BIN, clean_env, run, wait_for
from pm_pipeline_tests.conftest import PROJECT_ROOT

VALIDATE = (BIN / "dagster", "definitions", "validate", "-w", "workspace.yaml")
DG_CHECK_DEFS = (BIN / "dg", "check", "defs", "--log-level", "info")
TEMP_HOME = re.compile(r"Using temporary directory (\S+) for storage")
SQLITE_RUNS = Path("dagster_home") / "history" / "runs.db"
DAGSTER_TABLES = {"runs", "event_logs", "instigators", "job_ticks", "instance_info"}


def dagster_temp_home(output: str) -> Path:
    """The throw-away folder Dagster said it made in the root (there is one without
    DAGSTER_HOME); asserts Dagster removed it again."""
    match = TEMP_HOME.search(output)
    assert match, output
    folder = Path(match.group(1))
    assert folder.parent == PROJECT_ROOT, folder
    return folder


def test_validate_with_nothing_set_uses_the_embedded_instance(tmp_path: Path) -> None:
    env = clean_env({"PM_STATE_DIR": str(tmp_path)})
    completed = run(VALIDATE, cwd=PROJECT_ROOT, env=env, timeout=300)
    output = completed.stdout + completed.stderr
    assert "All code locations passed validation" in output
    assert "DAGSTER_PG_URL" not in output
    assert (tmp_path / SQLITE_RUNS).is_file()  # Dagster's storage: SQLite in $PM_STATE_DIR
    assert not dagster_temp_home(output).exists()


def test_dg_check_defs_with_nothing_set_loads_the_location(tmp_path: Path) -> None:
    # `dg`, which Dagster now tells its users to run, reads [tool.dg] in pyproject.toml and
    # builds its own workspace from it, leaving workspace.yaml aside.
    env = clean_env({"PM_STATE_DIR": str(tmp_path)})
    completed = run(DG_CHECK_DEFS, cwd=PROJECT_ROOT, env=env, timeout=300)
    output = completed.stdout + completed.stderr
    assert "Validation successful for code location pm_pipeline." in output
    assert "All definitions loaded successfully." in output
    assert (tmp_path / SQLITE_RUNS).is_file()  # the repo's dagster.yaml: the embedded instance
    assert not dagster_temp_home(output).exists()


def test_tool_dg_names_the_workspace_location() -> None:
    # One name for both ways in: sensor cursors and run-key history are kept per location,
    # so `dg dev` and `dagster dev -w workspace.yaml` must load the same one.
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    [entry] = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())["load_from"]
    location = entry["python_module"]
    assert project["code_location_name"] == location["location_name"] == "pm_pipeline"
    assert project["code_location_target_module"] == location["module_name"]


def test_validate_with_dagster_pg_url_uses_postgres(tmp_path: Path, postgres_url: str) -> None:
    # As a user writes it: the bare scheme, which the instance normalises to psycopg2.
    bare = postgres_url.replace("postgresql+psycopg2://", "postgresql://", 1)
    env = clean_env({"PM_STATE_DIR": str(tmp_path), "DAGSTER_PG_URL": bare})
    completed = run(VALIDATE, cwd=PROJECT_ROOT, env=env, timeout=300)
    assert "All code locations passed validation" in completed.stdout + completed.stderr
    with sa.create_engine(postgres_url, poolclass=sa.NullPool).connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
    assert tables >= DAGSTER_TABLES, tables  # created in the URL's fresh schema
    assert not (tmp_path / SQLITE_RUNS).exists()


def test_a_deployment_home_without_dagster_pg_url_says_what_to_set(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = clean_env({"PM_STATE_DIR": str(tmp_path / "state"), "DAGSTER_HOME": str(home)})
    completed = run(VALIDATE, cwd=PROJECT_ROOT, env=env, expect=1, timeout=300)
    assert "DAGSTER_PG_URL is not set" in completed.stderr
    assert not (tmp_path / "state").exists() and not (home / "history").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(port: int, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    assert "errors" not in body, body
    return body["data"]


def answers(port: int, process: subprocess.Popen) -> bool:
    assert process.poll() is None, f"dagster dev exited with {process.returncode}"
    try:
        return graphql(port, "{ version }")["version"] != ""
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


LOCATIONS = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
DAEMONS = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"


def sensor_daemon_healthy(port: int) -> bool:
    statuses = graphql(port, DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
    return any(s["daemonType"] == "SENSOR" and s["healthy"] for s in statuses)


@pytest.mark.slow
def test_dagster_dev_with_nothing_set_serves_the_location(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "dagster-dev.log"
    env = clean_env({"PM_STATE_DIR": str(tmp_path / "state"), "PM_DROP_DIR": str(tmp_path)})
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-p", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A shell's background job starts with SIGINT ignored, and an ignored signal
            # stays ignored across exec: give `dagster dev` the Ctrl-C a terminal would.
            preexec_fn=_ctrl_c_restored,
        )
    temp_home: Path | None = None
    try:
        wait_for(lambda: answers(port, process), 240, "the webserver to answer", log.read_text)
        temp_home = dagster_temp_home(log.read_text())
        [entry] = graphql(port, LOCATIONS)["workspaceOrError"]["locationEntries"]
        assert entry["name"] == "pm_pipeline"
        assert entry["loadStatus"] == "LOADED"
        assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        # The daemon beats on the same instance: the embedded SQLite one in PM_STATE_DIR.
        wait_for(lambda: sensor_daemon_healthy(port), 180, "the sensor daemon", log.read_text)
        assert (tmp_path / "state" / SQLITE_RUNS).is_file()
        # Ctrl-C, as a user stops it: Dagster shuts its services down and removes its folder.
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0, log.read_text()
        assert not temp_home.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the session
        process.wait(timeout=30)
        if temp_home is not None:
            shutil.rmtree(temp_home, ignore_errors=True)


def _ctrl_c_restored() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
