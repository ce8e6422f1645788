"""Bring our own tables to the newest revision with Alembic, or check that they are there.

Our tables (the readings store, the model registry and activations, events, ingested files)
are created and changed only by the revisions in ``db/migrations/versions``. Alembic keeps
the revision in ``pm_alembic_version``, not ``alembic_version``: Dagster's storage keeps its
own in that name, and may share the database. :func:`upgrade_store` is the one way in, for
``pm-pipeline db upgrade``; :func:`open_store` is what every command and run uses.

Checking that our tables are at the newest revision needs no Alembic: each revision file is
named by its revision id, in order (``pm_pipeline_tests/db/test_migrations.py`` checks that
against Alembic's own reading of the files), and the stored revision is one row. Alembic,
with the template engine it loads (0.2 s of CPU), is imported only to upgrade: every command,
code server and run worker opens the store, and few of them upgrade it.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, func, inspect, select
from sqlalchemy.exc import DBAPIError

from pm_pipeline.config.settings import Settings
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.db.engine import (
    describe_url,
    mask_url,
    open_engine,
    resolve_database_url,
    store_schema_of,
)
from pm_pipeline.db.schema import store_metadata
from pm_pipeline.db.store_rights import UPGRADE_HINT, StorePlace

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "pm_alembic_version"
MIGRATIONS = Path(__file__).with_name("migrations")
_VERSION = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32), primary_key=True))
_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"pm_pipeline store migrations").digest()[:8], "big", signed=True
)
"""The Postgres advisory lock two upgrades take turns on (a signed 64-bit key)."""
_READY: set[tuple[str, str | None]] = set()
"""Stores found (or brought) at head by this process: each is checked once."""


class StoreNotReady(PipelineError):
    """Our tables are missing or behind this code, and this entry point does not upgrade."""


def store_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration of our migrations, running on ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def script_revisions() -> list[str]:
    """Every revision id this code knows, oldest first: the names of the revision files."""
    return sorted(path.stem for path in (MIGRATIONS / "versions").glob("[0-9]*.py"))


@cache
def head_revision() -> str:
    """The newest revision this code knows."""
    revisions = script_revisions()
    assert revisions, f"no revisions in {MIGRATIONS}"
    return revisions[-1]


@cache
def known_revisions() -> frozenset[str]:
    """Every revision id this code knows."""
    return frozenset(script_revisions())


def store_revision(connectable: Engine | Connection) -> str | None:
    """The revision our tables are at; None when they were never upgraded (or do not exist)."""
    if isinstance(connectable, Engine):
        with connectable.connect() as connection:
            return store_revision(connection)
    if not inspect(connectable).has_table(VERSION_TABLE):
        return None
    return connectable.execute(select(_VERSION.c.version_num)).scalar_one_or_none()


def is_our_object(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's filter: of the tables in the database, only ours (not even the version
    table, which Alembic keeps itself) are compared with :func:`store_metadata`."""
    return type_ != "table" or name in _our_tables()


@cache
def _our_tables() -> frozenset[str]:
    return frozenset(store_metadata().tables)


def upgrade_store(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Create or upgrade our tables to ``revision``, in one transaction.

    Two processes upgrading at once take turns: a Postgres advisory lock (SQLite: the
    database's write lock) is held from before the current revision is read until the
    commit, so the second finds the work done. With a store schema (``PM_STORE_SCHEMA``),
    the schema is created first when it is missing.

    Parameters
    ----------
    engine
        From :func:`pm_pipeline.db.engine.open_engine`.
    revision
        Target revision; the newest by default.

    Returns
    -------
    tuple
        The revision before and after.

    Raises
    ------
    PipelineError
        One line, password masked, when the role may not create the schema or our tables
        (naming the ``GRANT`` needed), or when the database is at a revision this code
        does not know.
    """
    from alembic import command
    from alembic.util import CommandError

    url = engine.url.render_as_string(hide_password=False)
    place = StorePlace(url, store_schema_of(engine))
    try:
        with engine.begin() as connection:
            _take_turn(connection)
            place.read(connection)
            before = store_revision(connection)
            _check_known(before, url)
            if before != head_revision():
                place.prepare(connection)
            command.upgrade(store_config(connection), revision)
            after = store_revision(connection)
    except DBAPIError as error:
        if getattr(error.orig, "pgcode", None) == "42501":  # insufficient_privilege
            raise PipelineError(place.denied_message(error)) from None
        raise
    except CommandError as error:
        raise PipelineError(f"{describe_url(url)}: cannot upgrade our tables: {error}") from None
    if after == head_revision():
        _READY.add(_key(engine))
    return before, after


LEGACY_READINGS = "pm_dashboard"
"""The notebook's table, and the name of our readings table before migrations."""


def left_alone_notice(engine: Engine) -> str | None:
    """What to do with a ``pm_dashboard`` beside our tables, which no revision touches; None
    when there is none.

    Nothing in a database proves whose such a table is (the user's notebook table, or our
    readings store from before migrations, with the same layout), so it is never adopted:
    it stays a source the pipeline reads and never writes.
    """
    with engine.connect() as connection:
        if not inspect(connection).has_table(LEGACY_READINGS):
            return None
    return (
        f"note: the table {LEGACY_READINGS} beside our tables was left as it is (pm_pipeline "
        f"writes only tables its own revisions created; ours is pm_readings). If it holds "
        f"readings to train on, set PM_SOURCE_TABLE={LEGACY_READINGS}: training reads it, "
        "never writes it, and copies what is new into pm_readings."
    )


def ensure_store(engine: Engine, embedded: bool) -> None:
    """Check once per process that our tables are at head; upgrade only the embedded store.

    Parameters
    ----------
    engine
        The store's engine.
    embedded
        True for the default SQLite file (no database URL set): it is upgraded here, so a
        fresh clone works with nothing set. A configured database is only ever upgraded by
        ``pm-pipeline db upgrade``.

    Raises
    ------
    StoreNotReady
        Naming the masked URL and the command to run, when a configured store is behind.
    """
    if _key(engine) in _READY:
        return
    url = engine.url.render_as_string(hide_password=False)
    current = store_revision(engine)
    _check_known(current, url)
    if current == head_revision():
        _READY.add(_key(engine))
    elif embedded:
        upgrade_store(engine)
    else:
        schema = store_schema_of(engine)
        where = f"{describe_url(url)}" + (f", schema {schema!r}," if schema else "")
        raise StoreNotReady(
            f"our tables in {where} are at revision {current or 'none (never upgraded)'} and "
            f"this pm_pipeline needs {head_revision()}: {UPGRADE_HINT} ({mask_url(url)})."
        )


def open_store(
    url: str, store_schema: str | None, embedded: bool, setting: str = "PM_DATABASE_URL"
) -> Engine:
    """An engine on our tables, checked (embedded: brought) to head; see :func:`ensure_store`.
    ``setting`` names the variable the URL came from, for messages."""
    engine = open_engine(url, store_schema, setting)
    ensure_store(engine, embedded)
    return engine


def open_configured_store(settings: Settings, url: str | None = None) -> Engine:
    """:func:`open_store` on ``url``, else the database the settings name (``PM_DATABASE_URL``,
    then ``DATABASE_URL``), else the embedded SQLite file, which alone is upgraded on use."""
    embedded = not (url or settings.database_url)
    resolved = resolve_database_url(url, settings)
    return open_store(resolved, settings.store_schema, embedded, settings.database_url_variable)


def _key(engine: Engine) -> tuple[str, str | None]:
    return engine.url.render_as_string(hide_password=False), store_schema_of(engine)


def _take_turn(connection: Connection) -> None:
    """Hold the migration lock until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
    elif connection.dialect.name == "sqlite":
        # pysqlite begins lazily, at the first write; take the write lock before reading.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _check_known(current: str | None, url: str) -> None:
    if current is not None and current not in known_revisions():
        raise PipelineError(
            f"our tables in {describe_url(url)} are at revision {current!r}, which this "
            f"pm_pipeline does not know (its newest is {head_revision()}): a newer version "
            "upgraded them; update pm_pipeline."
        )
