"""Database URLs and engines: the embedded SQLite default and Postgres through psycopg2."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from pm_pipeline.core.errors import PipelineError

URL_VARIABLES = ("PM_DATABASE_URL", "DATABASE_URL")
STATE_DIR_VARIABLE = "PM_STATE_DIR"
DEFAULT_STATE_DIR = ".pm_state"
READINGS_DB_FILE = "readings.db"


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The git-ignored folder holding the embedded database and the local Dagster home."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(STATE_DIR_VARIABLE, DEFAULT_STATE_DIR)).resolve()


def resolve_database_url(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Pick the readings database URL: explicit, then the environment, then embedded SQLite.

    Parameters
    ----------
    explicit
        A URL given in configuration, or None.
    environ
        The environment to read; ``os.environ`` by default. Read at run time, never on import.

    Returns
    -------
    str
        A URL with Postgres normalised to the psycopg2 driver.
    """
    environ = os.environ if environ is None else environ
    chosen = explicit or next((environ[v] for v in URL_VARIABLES if environ.get(v)), None)
    if not chosen:
        folder = state_dir(environ)
        return f"sqlite:///{folder / READINGS_DB_FILE}"
    return normalise_url(chosen)


def normalise_url(url: str) -> str:
    """Point any Postgres URL at psycopg2, keeping its query string (e.g. ``sslmode``)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise PipelineError(
            f"database URL {mask_url(url)!r} is not a valid SQLAlchemy URL; "
            "write it like postgresql://user:password@host:5432/dbname or sqlite:///path.db"
        ) from None
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg"):
        # Swap only the scheme: re-rendering would reorder Neon's query string.
        return "postgresql+psycopg2" + url[len(url.split("://", 1)[0]) :]
    return url


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``, safe to print or log."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def describe_url(url: str) -> str:
    """A short label naming host and database, for messages."""
    parsed: URL = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return f"SQLite file {parsed.database}"
    return f"database {parsed.database!r} on {parsed.host}:{parsed.port or 5432}"


def open_engine(url: str) -> Engine:
    """Create an engine; for SQLite, create the file's folder and enforce foreign keys."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if parsed.drivername.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection, _record) -> None:  # noqa: ANN001 - DBAPI objects
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
