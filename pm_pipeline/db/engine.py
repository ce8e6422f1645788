"""Database URLs and engines: the embedded SQLite default and Postgres through psycopg2."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from pm_pipeline.config.settings import Settings
from pm_pipeline.core.errors import DatabaseUnavailable, PipelineError, mask_url, scrub

ENCODE_HINT = (
    "URL-encode a user name or password that holds '@', ':', '/', '?' or '#' ('@' as %40, "
    "':' as %3A, '/' as %2F)"
)
READINGS_DB_FILE = "readings.db"
STORE_SCHEMA_OPTION = "pm_store_schema"
"""The engine execution option that carries ``PM_STORE_SCHEMA`` to the migrations."""


def resolve_database_url(explicit: str | None, settings: Settings) -> str:
    """Pick the readings database URL: explicit, then the settings, then embedded SQLite.

    Parameters
    ----------
    explicit
        A URL given in configuration, or None.
    settings
        The settings the entry point read (``PM_DATABASE_URL``, ``DATABASE_URL``,
        ``PM_STATE_DIR``).

    Returns
    -------
    str
        A URL with Postgres normalised to the psycopg2 driver.
    """
    chosen = explicit or settings.database_url
    if not chosen:
        return f"sqlite:///{settings.state_dir / READINGS_DB_FILE}"
    return normalise_url(chosen, None if explicit else settings.database_url_variable)


def normalise_url(url: str, setting: str | None = None) -> str:
    """Point any Postgres URL at psycopg2, keeping its query string (e.g. ``sslmode``).

    Raises
    ------
    PipelineError
        Naming ``setting`` (the variable the URL came from) and the URL with every
        credential masked, when SQLAlchemy cannot read it or its password holds an
        unescaped ``@``.
    """
    named = f"{setting}: " if setting else ""
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - a non-numeric port only fails when read
    except (ArgumentError, ValueError):
        raise PipelineError(
            f"{named}database URL {mask_url(url)!r} is not a valid SQLAlchemy URL; "
            "write it like postgresql://user:password@host:5432/dbname or sqlite:///path.db, "
            f"and {ENCODE_HINT}."
        ) from None
    if "@" in (parsed.host or ""):
        raise PipelineError(
            f"{named}database URL {mask_url(url)!r} has more than one '@' before its host: "
            f"{ENCODE_HINT}."
        )
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg"):
        # Swap only the scheme: re-rendering would reorder Neon's query string.
        return "postgresql+psycopg2" + url[len(url.split("://", 1)[0]) :]
    return url


def describe_url(url: str) -> str:
    """A short label naming host and database, for messages."""
    parsed: URL = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return f"SQLite file {parsed.database}"
    host = str(parsed.host).rsplit("@", 1)[-1]  # a password's unescaped '@' is not the host's
    return f"database {parsed.database!r} on {host}:{parsed.port or 5432}"


def open_engine(
    url: str, store_schema: str | None = None, setting: str = "PM_DATABASE_URL"
) -> Engine:
    """Create an engine and check that it connects; ``setting`` names the URL's variable.

    For SQLite, the file's folder is created and WAL mode set so readers and one writer can
    share it.

    Parameters
    ----------
    url
        SQLAlchemy URL of the database.
    store_schema
        Postgres only: the schema our own tables live in (``PM_STORE_SCHEMA``). Every
        connection then has it as its only ``search_path``, so unqualified names, Alembic's
        version table and new tables all land there. None: the connection's own default.

    Raises
    ------
    PipelineError
        One line naming host, database and user (never the password) when the URL is
        malformed or the server refuses the connection or the credentials, or when a store
        schema is given for SQLite.
    """
    url = normalise_url(url, setting)
    parsed = make_url(url)
    if store_schema and not parsed.drivername.startswith("postgresql"):
        raise PipelineError(
            f"PM_STORE_SCHEMA={store_schema!r} applies to Postgres only, and the database is "
            f"{describe_url(url)}; unset PM_STORE_SCHEMA or use a postgresql:// URL."
        )
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise PipelineError(
            f"database URL {mask_url(url)!r}: {scrub(str(error), url)}; use a postgresql:// "
            "or sqlite:/// URL."
        ) from None
    if parsed.drivername.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    if store_schema:
        # First, so the dialect's default schema (read on the first connect) is the store's.
        event.listen(engine, "connect", _search_path(store_schema), insert=True)
        engine = engine.execution_options(**{STORE_SCHEMA_OPTION: store_schema})
    try:
        with engine.connect():
            pass
    except DBAPIError as error:
        raise DatabaseUnavailable(connection_failure(url, error, setting)) from None
    return engine


@contextmanager
def in_transaction(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection in a transaction: ``bind`` itself when it is a connection (its caller's
    transaction decides what stays), else a new transaction of the engine, committed when
    the block ends without an error."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.begin() as connection:
        yield connection


@contextmanager
def connected(bind: Engine | Connection) -> Iterator[Connection]:
    """``bind`` itself when it is a connection (reading inside its transaction), else a new
    connection of the engine for the block."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as connection:
        yield connection


def connection_failure(url: str, error: DBAPIError, setting: str = "PM_DATABASE_URL") -> str:
    """A one-line reason for a failed connection, with the password scrubbed."""
    parsed = make_url(url)
    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    if parsed.password:
        reason = reason.replace(str(parsed.password), "***")
    reason = scrub(reason, url)
    user = f" as user {parsed.username!r}" if parsed.username else ""
    return (
        f"cannot connect to {describe_url(url)}{user}: {reason}. Check {setting} "
        f"({mask_url(url)}) and that the server is reachable."
    )


def store_schema_of(engine: Engine | Connection) -> str | None:
    """The store schema :func:`open_engine` gave the engine, or None."""
    return engine.get_execution_options().get(STORE_SCHEMA_OPTION)


def _search_path(schema: str):
    def set_search_path(connection, _record) -> None:
        # Outside a transaction: a rollback would undo a SET made inside one.
        autocommit = connection.autocommit
        connection.autocommit = True
        cursor = connection.cursor()
        quoted = schema.replace('"', '""')
        cursor.execute(f'SET SESSION search_path TO "{quoted}"')
        cursor.close()
        connection.autocommit = autocommit

    return set_search_path


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
