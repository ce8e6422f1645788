"""Who may upgrade our tables and where they live: `pm-pipeline db upgrade`, PM_STORE_SCHEMA,
the embedded store upgraded on first use, a configured one refused until upgraded, and the
GRANT a role without the right needs, named in one line with the password masked."""

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.errors import PipelineError, SettingsError
from pm_pipeline.db.engine import normalise_url, open_engine
from pm_pipeline.db.migrate import head_revision, open_store, store_revision, upgrade_store
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline_tests import commands
from pm_pipeline_tests.conftest import LOCAL_TEST_URL, TEST_URL_VARIABLE
from pm_pipeline_tests.db.migration_helpers import OUR_TABLES, table_names

PLANTED = "pl4nted-s3cret"


def with_password(url: str, user: str | None = None) -> str:
    parsed = make_url(url).set(password=PLANTED)
    parsed = parsed.set(username=user) if user else parsed
    return parsed.render_as_string(hide_password=False)


def cli(tmp_path: Path, env: dict[str, str], *args: str, expect: int = 0):
    environment = commands.clean_env({"PM_STATE_DIR": str(tmp_path / ".pm_state"), **env})
    return commands.run_cli(*args, cwd=tmp_path, env=environment, expect=expect)


def test_the_embedded_store_is_upgraded_on_first_use_and_checked_once(tmp_path: Path) -> None:
    engine = ReadingsDatabaseResource().engine()  # nothing set: the SQLite file in PM_STATE_DIR
    assert store_revision(engine) == head_revision()
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        ReadingsDatabaseResource().engine()  # a second resource in the same process
    finally:
        event.remove(sa.Engine, "before_cursor_execute", record)
    assert statements == []  # no second look at the version table


def test_a_configured_store_is_refused_until_upgraded(
    tmp_path: Path, postgres_schema_url: Callable[[], str]
) -> None:
    env = {"PM_DATABASE_URL": with_password(postgres_schema_url())}
    refused = cli(tmp_path, env, "models", expect=1)
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "revision none" in lines[0], refused.stderr
    assert "run `pm-pipeline db upgrade` (postgresql+psycopg2://postgres:***@" in lines[0]
    assert PLANTED not in refused.stderr
    cli(tmp_path, env, "db", "current", expect=1)
    upgraded = cli(tmp_path, env, "db", "upgrade")
    assert f"upgraded from nothing to {head_revision()}" in upgraded.stdout
    assert "nothing to do" in cli(tmp_path, env, "db", "upgrade").stdout
    assert "(the newest)" in cli(tmp_path, env, "db", "current").stdout
    cli(tmp_path, env, "models")
    assert PLANTED not in upgraded.stdout + upgraded.stderr


def test_store_schema_holds_our_tables_apart(
    tmp_path: Path, postgres_schema_url: Callable[[], str], real_export: Path
) -> None:
    url = postgres_schema_url()  # its own schema stays the user's: nothing of ours goes there
    store = f"pm_store_{uuid.uuid4().hex[:8]}"
    env = {"PM_DATABASE_URL": url, "PM_STORE_SCHEMA": store}
    admin = sa.create_engine(normalise_url(url))
    try:
        assert (
            f"schema {store}: upgraded from nothing" in cli(tmp_path, env, "db", "upgrade").stdout
        )
        cli(tmp_path, env, "ingest", str(real_export))
        with admin.connect() as connection:
            inspector = sa.inspect(connection)
            assert table_names(connection, store) == OUR_TABLES | {"pm_alembic_version"}
            assert inspector.get_table_names() == []
            rows = connection.execute(sa.text(f"SELECT count(*) FROM {store}.pm_readings"))
            assert rows.scalar() == 39_672
        assert store_revision(open_store(url, store, embedded=False)) == head_revision()
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {store} CASCADE"))
        admin.dispose()


def test_store_schema_is_refused_on_sqlite(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^PM_STORE_SCHEMA='pm_store': .*Postgres only"):
        load_settings({"PM_STORE_SCHEMA": "pm_store"})
    with pytest.raises(SettingsError, match="not a schema name"):
        load_settings({"PM_STORE_SCHEMA": "Store; DROP", "PM_DATABASE_URL": "postgresql://h/d"})
    with pytest.raises(PipelineError, match="Postgres only, and the database is SQLite file"):
        open_engine(f"sqlite:///{tmp_path / 'x.db'}", "pm_store")


@pytest.fixture
def limited_role() -> Iterator[str]:
    """A login role with no right to create anything, dropped (with its rights) afterwards."""
    admin = sa.create_engine(normalise_url(os.environ.get(TEST_URL_VARIABLE) or LOCAL_TEST_URL))
    role = f"pm_limited_{uuid.uuid4().hex[:8]}"
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
    yield role
    with admin.begin() as connection:
        connection.execute(sa.text(f"DROP OWNED BY {role} CASCADE"))
        connection.execute(sa.text(f"DROP ROLE {role}"))
    admin.dispose()


def test_a_role_without_create_is_told_the_grant(
    tmp_path: Path, postgres_schema_url: Callable[[], str], limited_role: str
) -> None:
    url = postgres_schema_url()
    schema = str(make_url(url).query["options"]).split("=")[-1]
    env = {"PM_DATABASE_URL": with_password(url, limited_role)}
    denied = cli(tmp_path, env, "db", "upgrade", expect=1)
    grant = f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {limited_role};"
    assert denied.stderr.count("\n") == 1 and grant in denied.stderr, denied.stderr
    assert f"{limited_role}:***@" in denied.stderr and PLANTED not in denied.stderr
    with sa.create_engine(url).begin() as connection:
        connection.execute(sa.text(grant))
    cli(tmp_path, env, "db", "upgrade")
    assert table_names(open_engine(url)) == OUR_TABLES | {"pm_alembic_version"}


def test_a_role_that_may_not_create_the_store_schema_is_told_how(
    postgres_url: str, limited_role: str
) -> None:
    store = f"pm_store_{uuid.uuid4().hex[:8]}"
    engine = open_engine(with_password(postgres_url, limited_role), store)
    with pytest.raises(PipelineError) as refused:
        upgrade_store(engine)
    message = str(refused.value)
    assert "\n" not in message and PLANTED not in message
    assert f"CREATE SCHEMA {store} AUTHORIZATION {limited_role};" in message
    assert f"GRANT CREATE ON DATABASE {make_url(postgres_url).database} TO {limited_role};" in (
        message
    )
