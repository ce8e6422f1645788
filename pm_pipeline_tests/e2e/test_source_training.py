"""`pm-pipeline train` on the user's own table, read by a role with SELECT only on it, then
`pm-pipeline score` on a new export: the wide layout with and without ``id`` and
``robot_id``, with ``timestamp`` and ``timestamptz``; the long layout whose axes table lists
six of eight axes. The source table's rows and columns are the same afterwards. Mistakes come
out as one line naming the table or column and what to set, with the password masked."""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline_tests import commands
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.in_process import run_main
from pm_pipeline_tests.source_tables import (
    LISTED,
    SourceServer,
    append_long,
    create_long,
    create_wide,
    source_server,
    wide_rows,
)

pytestmark = pytest.mark.slow

ROBOT = "robot-1"
TRAINING_HOURS = 3.0
PLANTED = "pl4nted-s3cret"


@dataclass(frozen=True)
class Case:
    layout: str
    with_id: bool = False
    robot: bool = False
    zone: bool = True
    qualified: bool = False
    """PM_SOURCE_TABLE names the schema; otherwise the reader's search_path finds it."""
    retrain: bool = False
    """Train once more after scoring (what the nightly run does)."""


CASES = {
    "wide-notebook": Case("wide", with_id=True, robot=False, zone=False, retrain=True),
    "wide-robot-tz": Case("wide", with_id=False, robot=True, zone=True, qualified=True),
    "wide-id-robot-naive": Case("wide", with_id=True, robot=True, zone=False),
    "long-six-of-eight": Case("long", robot=True, qualified=True),
}


@pytest.fixture
def server() -> Iterator[SourceServer]:
    with source_server() as site:
        yield site


@pytest.fixture
def history(robot_day: pd.DataFrame) -> pd.DataFrame:
    start = robot_day[TIME_COLUMN].iloc[0]
    return robot_day[robot_day[TIME_COLUMN] < start + pd.Timedelta(hours=TRAINING_HOURS)]


def source_env(server: SourceServer, case: Case, tables: list[str]) -> dict[str, str]:
    """The settings that point the pipeline at the case's table(s), as docs/sources.md says."""
    prefix = f"{server.schema}." if case.qualified else ""
    # The server trusts local connections, so the password is never checked, only hidden.
    url = server.reader_url(search_path=not case.qualified)
    env = {
        "PM_SOURCE_LAYOUT": case.layout,
        "PM_SOURCE_URL": url.replace(f"{server.reader}@", f"{server.reader}:{PLANTED}@"),
        "PM_SOURCE_TABLE": prefix + tables[0],
    }
    if case.robot:
        env["PM_SOURCE_ROBOT_COLUMN"] = "robot" if case.layout == "long" else "robot_id"
    if case.layout == "long":
        env |= {
            "PM_SOURCE_AXES_TABLE": prefix + "axes",
            "PM_SOURCE_TIME_COLUMN": "recorded_at",
            "PM_SOURCE_CURRENT_COLUMN": "current_a",
            "PM_SOURCE_AXES_NAME_COLUMN": "axis_name",
        }
    return env


def create_source(server: SourceServer, case: Case, history: pd.DataFrame) -> list[str]:
    """The case's source table(s), filled and readable by the reader; another robot's rows,
    at 99 A, sit beside the configured robot's where the table has a robot column."""
    other = history.assign(**{axis: 99.0 for axis in AXES})
    if case.layout == "long":
        create_long(server, history, ROBOT)
        append_long(server, other, "robot-2")
        return ["readings_long", "axes"]
    table = create_wide(server, case.with_id, case.robot, case.zone)
    rows = wide_rows(history, case.zone)
    if case.robot:
        others = wide_rows(other, case.zone)
        rows = pd.concat([rows.assign(robot_id=ROBOT), others.assign(robot_id="robot-2")])
    server.load(table, rows)
    server.grant_select(table)
    return [table]


def env_for(tmp_path: Path, store_url: str, overrides: dict[str, str]) -> dict[str, str]:
    return commands.clean_env(
        {
            "PM_STATE_DIR": str(tmp_path / ".pm_state"),
            "PM_DATABASE_URL": store_url,
            **commands.PLUMBING_MODE,
            **overrides,
        }
    )


def stored_model(store_url: str) -> tuple[int, dict]:
    with sa.create_engine(store_url).connect() as connection:
        count = connection.execute(
            sa.text("SELECT count(*) FROM pm_readings WHERE robot_id = :r"), {"r": ROBOT}
        ).scalar_one()
        biggest = connection.execute(
            sa.text(f"SELECT max(greatest({', '.join(AXES)})) FROM pm_readings")
        ).scalar_one()
        model_json = connection.execute(
            sa.text("SELECT model_json FROM pm_model_registry WHERE is_active")
        ).scalar_one()
    assert biggest < 99.0, "another robot's readings reached the store"
    return int(count), json.loads(model_json)


@pytest.mark.parametrize("name", list(CASES))
def test_train_on_the_user_s_table_then_score_a_file(
    name: str,
    server: SourceServer,
    postgres_schema_url: Callable[[], str],
    history: pd.DataFrame,
    robot_day: pd.DataFrame,
    tmp_path: Path,
) -> None:
    case = CASES[name]
    tables = create_source(server, case, history)
    before = [server.fingerprint(table) for table in tables]
    store_url = postgres_schema_url()
    env = env_for(tmp_path, store_url, source_env(server, case, tables))

    commands.run_cli("db", "upgrade", cwd=tmp_path, env=env)  # our tables, as a user starts
    trained = commands.run_cli("train", cwd=tmp_path, env=env)
    assert trained.stdout.startswith("model version ")
    count, model = stored_model(store_url)
    assert count == len(history)
    expected_axes = LISTED if case.layout == "long" else AXES
    assert sorted(model["axes"]) == sorted(expected_axes)

    landed = tmp_path / "landed.csv"
    write_export(worn_slice(robot_day, TRAINING_HOURS).iloc[:2000], landed)
    scored = commands.run_cli("score", landed, cwd=tmp_path, env=env)
    assert f"{landed}: " in scored.stdout and " events (" in scored.stdout
    if case.retrain:
        # The source has nothing new; the scored file's readings join the window, less
        # those around the fault it flagged.
        again = commands.run_cli("train", cwd=tmp_path, env=env)
        assert again.stdout.startswith("model version ")
        count, model = stored_model(store_url)
        assert count == len(history) + 2000
        assert model["row_count"] + model["excluded_row_count"] == count
        assert model["excluded_row_count"] > 0
    assert [server.fingerprint(table) for table in tables] == before
    # The run's metadata names the source with its password masked; no file holds it.
    files = [path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()]
    assert any(f"{server.reader}:***@".encode() in content for content in files)
    assert not any(PLANTED.encode() in content for content in files)


MISTAKES = {
    "missing table": (
        {"PM_SOURCE_TABLE": "nowhere"},
        "source table 'nowhere' does not exist",
        "set PM_SOURCE_TABLE",
    ),
    "missing column": (
        {"PM_SOURCE_TIME_COLUMN": "ts"},
        "table 'pm_dashboard' has no column 'ts'",
        "set PM_SOURCE_TIME_COLUMN to one of: id, timestamp_recorded",
    ),
    "no select right": (
        {"PM_SOURCE_TABLE": "hidden"},
        "may not read 'hidden'",
        "GRANT SELECT ON hidden TO",
    ),
    "not a time": (
        {"PM_SOURCE_TABLE": "texty"},
        "column 'timestamp_recorded' of table 'texty' is TEXT, not a time",
        "set PM_SOURCE_TIME_COLUMN to a timestamp or timestamptz column",
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_mistake_is_one_line_naming_what_to_set(
    mistake: str,
    server: SourceServer,
    postgres_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`train`'s entry point in this process (the cases above start the real command)."""
    create_wide(server, with_id=True, robot=False, zone=True)
    create_wide(server, with_id=False, robot=False, zone=True, table="hidden")
    server.run("CREATE TABLE texty (timestamp_recorded text, axis_1 real)")
    for table in ("pm_dashboard", "texty"):
        server.grant_select(table)
    overrides, *says = MISTAKES[mistake]
    settings = {
        "PM_STATE_DIR": str(tmp_path / ".pm_state"),
        "PM_DATABASE_URL": postgres_url,
        **commands.PLUMBING_MODE,
        **source_env(server, CASES["wide-notebook"], ["pm_dashboard"]),
        **overrides,
    }
    failed = run_main("train", env=settings, cwd=tmp_path, capsys=capsys, expect=1)
    [line] = failed.stderr.splitlines()
    assert line.startswith("error: training run ") and " failed: " in line
    for part in says:
        assert part in line
    assert PLANTED not in failed.stdout + failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr
    with sa.create_engine(postgres_url).connect() as connection:
        copied = connection.execute(
            sa.text("SELECT count(*) FROM pm_ingested_files WHERE file_name LIKE 'source:%'")
        ).scalar()
    assert not copied
