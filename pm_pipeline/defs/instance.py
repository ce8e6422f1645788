"""Where the repo's ``dagster.yaml`` keeps Dagster's storage, chosen when the instance loads.

``dagster dev`` (and every ``dagster`` command) run in the repo root without ``DAGSTER_HOME``
reads ``./dagster.yaml`` and keeps only a throw-away folder of its own. The classes here,
named in that file, make one file serve both a developer and a deployment:

- ``DAGSTER_PG_URL`` set: Postgres storage through dagster-postgres at that URL (normalised to
  psycopg2). This is the production instance.
- Unset, with ``DAGSTER_HOME`` unset: the embedded default, SQLite in
  ``$PM_STATE_DIR/dagster_home`` (``.pm_state/dagster_home``), the instance the
  ``pm-pipeline`` commands use.
- Unset, with ``DAGSTER_HOME`` set to a folder holding this file: an error that says what to
  set, so a deployment never falls back to SQLite on its own disk.

Run artifacts and compute logs go to ``DAGSTER_HOME`` when it is set (Dagster's defaults), else
to the same local folder, so they outlive ``dagster dev``.
"""

import os
import time
from pathlib import Path
from typing import Any

from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClass, ConfigurableClassData
from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.db.engine import normalise_url

DAGSTER_HOME_VARIABLE = "DAGSTER_HOME"
DAGSTER_PG_VARIABLE = "DAGSTER_PG_URL"
LOCAL_HOME_NAME = "dagster_home"


def local_dagster_home() -> Path:
    """The embedded instance's folder: ``$PM_STATE_DIR/dagster_home``, absolute."""
    return load_settings().state_dir / LOCAL_HOME_NAME


def instance_home() -> Path:
    """``DAGSTER_HOME`` when set, else the embedded instance's folder."""
    home = os.environ.get(DAGSTER_HOME_VARIABLE)
    return Path(home).resolve() if home else local_dagster_home()


def postgres_url(variable: str = DAGSTER_PG_VARIABLE) -> str | None:
    """The Dagster storage URL from the environment, on the psycopg2 driver, or None."""
    url = os.environ.get(variable)
    return normalise_url(url, variable) if url else None


class ProjectStorage(DagsterStorage, ConfigurableClass):
    """Dagster storage on Postgres when ``postgres_url_env`` names a set variable, else SQLite.

    ``from_config_value`` returns dagster-postgres' or Dagster's own SQLite storage; this class
    is never instantiated itself.
    """

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"postgres_url_env": str}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: dict[str, Any]
    ) -> DagsterStorage:
        variable = config_value["postgres_url_env"]
        url = postgres_url(variable)
        if url:
            from dagster_postgres import DagsterPostgresStorage

            storage = DagsterPostgresStorage(postgres_url=url, inst_data=inst_data)
            _keep_connections(storage)
            return storage
        if os.environ.get(DAGSTER_HOME_VARIABLE):
            raise PipelineError(
                f"{variable} is not set, and DAGSTER_HOME ({os.environ[DAGSTER_HOME_VARIABLE]}) "
                "holds the production instance file, which keeps Dagster's storage on Postgres. "
                f"Set {variable}=postgresql+psycopg2://user:password@host:5432/db, or unset "
                "DAGSTER_HOME to use the embedded SQLite instance under .pm_state/."
            )
        return DagsterSqliteStorage.from_local(str(local_dagster_home()), inst_data=inst_data)


KEEP_CONNECTION_RECYCLE_SECONDS = 3600
KEEP_CONNECTION_MAX_OVERFLOW = 20


def _keep_connections(storage: Any) -> None:
    """Keep one connection per storage (runs, event log, schedules) open in this process.

    dagster-postgres opens a new connection for every statement (``NullPool``), about 5 ms
    each: a run of landed files makes a dozen statements per file (its materialization, its
    check verdicts, the lineage look-ups), so a 50-file run spent more time connecting than
    writing (1,300 connections, 6.3 s of a 23 s run; see "Throughput" in docs/fleet.md).
    The webserver keeps one open the same way (``optimize_for_webserver``); here without its
    statement timeout, which a long purge or a daemon's query must not hit. A process holds
    at most three idle connections; threads beyond them open and close their own
    (``max_overflow``), as before.
    """
    for part in (storage.run_storage, storage.event_log_storage, storage.schedule_storage):
        part.optimize_for_webserver(
            statement_timeout=0,
            pool_recycle=KEEP_CONNECTION_RECYCLE_SECONDS,
            max_overflow=KEEP_CONNECTION_MAX_OVERFLOW,
        )
        _ping_after_idle(part._engine)  # the engine optimize_for_webserver has just made


PING_AFTER_IDLE_SECONDS = 5.0
"""A kept connection idle this long is checked before it is used again."""
_IDLE_SINCE = "pm_idle_since"


def _ping_after_idle(engine: Engine) -> None:
    """Check a kept connection that sat idle before a statement uses it, and replace it if
    the server has dropped it.

    A server that ends idle connections (Neon suspending its compute, a failover, a restart,
    a pooler recycling) would otherwise fail the next statement of every long-lived process:
    a sensor tick of the daemon, or a run's write of its materialization. SQLAlchemy's
    pessimistic disconnect handling: a ``checkout`` listener that raises
    ``DisconnectionError`` makes the pool open a fresh connection. Statements that follow one
    another within seconds (a run's writes) skip the check, so it costs a round trip per
    idle spell, not per statement.
    """

    @event.listens_for(engine.pool, "checkin")
    def _idle_from_now(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _alive_after_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as dropped:  # psycopg2's OperationalError or InterfaceError
            raise DisconnectionError(str(dropped)) from dropped


class ProjectArtifactStorage(LocalArtifactStorage):
    """Run artifacts in :func:`instance_home`."""

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> LocalArtifactStorage:
        return cls(base_dir=str(instance_home()), inst_data=inst_data)


class ProjectComputeLogManager(LocalComputeLogManager):
    """Captured step output in ``storage/`` of :func:`instance_home`, as Dagster's default."""

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict[str, Any]
    ) -> LocalComputeLogManager:
        return cls(base_dir=str(instance_home() / "storage"), inst_data=inst_data)
