"""`pm-pipeline db upgrade` in a database that already holds the user's ``pm_dashboard``, in
the very schema our tables go to: the table, its rows and its grants stay as they were, and
`ingest` and `train` (reading it as the source) work beside it. Both of the notebook's shapes,
on Postgres and on SQLite; the shape keyed by ``robot_id`` and time is exactly the layout of
our readings table before migrations, which an upgrade used to take over."""

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.engine import normalise_url
from pm_pipeline_tests import commands
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.in_process import run_main
from pm_pipeline_tests.source_tables import SourceServer, source_server, wide_rows

pytestmark = pytest.mark.slow

ROBOT = "robot-1"
HOURS = 2.0
SHAPES = {
    "robot_id_and_time_key": (
        "robot_id text NOT NULL, timestamp_recorded timestamp NOT NULL, {axes}, "
        "PRIMARY KEY (robot_id, timestamp_recorded)"
    ),
    "id_no_robot_id": "id integer PRIMARY KEY, timestamp_recorded timestamp NOT NULL, {axes}",
}


@pytest.fixture
def server() -> Iterator[SourceServer]:
    with source_server() as site:
        yield site


def users_rows(history: pd.DataFrame, shape: str) -> pd.DataFrame:
    rows = wide_rows(history, zone=False)
    if shape == "robot_id_and_time_key":
        return rows.assign(robot_id=ROBOT)
    return rows.assign(id=range(len(rows)))


def grants(server: SourceServer) -> list[tuple]:
    with server.admin.connect() as connection:
        return sorted(
            connection.execute(
                sa.text(
                    "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
                    "WHERE table_schema = :s AND table_name = 'pm_dashboard'"
                ),
                {"s": server.schema},
            ).all()
        )


def upgrade_ingest_and_train(tmp_path: Path, env: dict[str, str], robot_day: pd.DataFrame) -> int:
    """The user's first steps; returns the readings in our store afterwards. The upgrade
    is the real command; `ingest` and `train` run its entry point in this process."""
    upgraded = commands.run_cli("db", "upgrade", cwd=tmp_path, env=env)
    assert "PM_SOURCE_TABLE=pm_dashboard" in upgraded.stdout
    landed = tmp_path / "landed.csv"
    write_export(worn_slice(robot_day, HOURS).iloc[:500], landed)
    run_main("ingest", landed, cwd=tmp_path, env=env)
    trained = run_main("train", cwd=tmp_path, env=env)
    assert trained.stdout.startswith("model version ")
    with sa.create_engine(normalise_url(env["PM_DATABASE_URL"])).connect() as connection:
        return connection.execute(sa.text("SELECT count(*) FROM pm_readings")).scalar_one()


def base_env(tmp_path: Path, store_url: str, shape: str) -> dict[str, str]:
    overrides = {
        "PM_STATE_DIR": str(tmp_path / ".pm_state"),
        "PM_DATABASE_URL": store_url,
        "PM_SOURCE_LAYOUT": "wide",
        **commands.PLUMBING_MODE,
    }
    if shape == "robot_id_and_time_key":
        overrides["PM_SOURCE_ROBOT_COLUMN"] = "robot_id"
    return commands.clean_env(overrides)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_postgres_upgrade_leaves_the_users_table_and_its_grants(
    shape: str, server: SourceServer, robot_day: pd.DataFrame, tmp_path: Path
) -> None:
    history = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=HOURS)
    ]
    axes = ", ".join(f"{axis} double precision" for axis in AXES)
    server.run(f"CREATE TABLE pm_dashboard ({SHAPES[shape].format(axes=axes)})")
    server.load("pm_dashboard", users_rows(history, shape))
    server.grant_select("pm_dashboard")
    before = (server.fingerprint("pm_dashboard"), grants(server))
    assert (server.reader, "SELECT") in before[1]
    # Our tables go to the very schema that holds the user's table.
    store_url = f"{server.base_url}?options=-csearch_path%3D{server.schema}"
    env = base_env(tmp_path, store_url, shape) | {
        "PM_SOURCE_URL": server.reader_url(search_path=False),
        "PM_SOURCE_TABLE": f"{server.schema}.pm_dashboard",
    }
    stored = upgrade_ingest_and_train(tmp_path, env, robot_day)
    assert stored == len(history) + 500  # the source's rows were copied, the file's landed
    assert (server.fingerprint("pm_dashboard"), grants(server)) == before


@pytest.mark.parametrize("shape", list(SHAPES))
def test_sqlite_upgrade_leaves_the_users_table(
    shape: str, robot_day: pd.DataFrame, tmp_path: Path
) -> None:
    history = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=HOURS)
    ]
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = sa.create_engine(store_url)
    axes = ", ".join(f"{axis} REAL" for axis in AXES)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                f"CREATE TABLE pm_dashboard ({SHAPES[shape].format(axes=axes)})".replace(
                    "integer PRIMARY KEY", "INTEGER PRIMARY KEY"
                )
            )
        )
        users_rows(history, shape).to_sql(
            "pm_dashboard", connection, if_exists="append", index=False
        )

    def table_state() -> tuple:
        with engine.connect() as connection:
            shape_sql = connection.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE name = 'pm_dashboard'")
            ).scalar_one()
            rows = connection.execute(sa.text("SELECT * FROM pm_dashboard ORDER BY 1, 2")).all()
        return shape_sql, rows

    before = table_state()
    env = base_env(tmp_path, store_url, shape) | {"PM_SOURCE_TABLE": "pm_dashboard"}
    stored = upgrade_ingest_and_train(tmp_path, env, robot_day)
    assert stored == len(history) + 500
    assert table_state() == before
