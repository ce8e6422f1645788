"""Where an upgrade creates our tables, as whom, and the one line that says which right is
missing: the ``GRANT`` (or ``CREATE SCHEMA``) an owner runs, with the password masked."""

from __future__ import annotations

from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateSchema

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.db.engine import describe_url, mask_url

UPGRADE_HINT = "run `pm-pipeline db upgrade`"


class StorePlace:
    """The schema our tables go in (``PM_STORE_SCHEMA``, else the connection's own) and the
    role creating them. Postgres only: on SQLite every step is a no-op."""

    def __init__(self, url: str, store_schema: str | None) -> None:
        self.url, self.schema = url, store_schema
        self.user = self.database = ""
        self.postgres = False

    def read(self, connection: Connection) -> None:
        """Find the role, the database and the schema; PipelineError when there is none."""
        self.postgres = connection.dialect.name == "postgresql"
        if not self.postgres:
            return
        self.user, self.database, current = connection.execute(
            select(func.current_user(), func.current_database(), func.current_schema())
        ).one()
        # current_schema() skips schemas the role may not use; the first one named is meant.
        self.schema = self.schema or current or self._first_on_search_path(connection)
        if self.schema is None:
            raise PipelineError(
                f"{describe_url(self.url)}: no schema on the connection's search_path exists "
                "to hold our tables; set PM_STORE_SCHEMA to one (it is created) or fix the "
                f"search_path in the URL ({mask_url(self.url)})."
            )

    def prepare(self, connection: Connection) -> None:
        """Create the store schema when missing; check the role may create tables in it."""
        if not self.postgres or self.schema is None:
            return
        if not self._exists(connection, self.schema):
            try:
                connection.execute(CreateSchema(self.schema))
            except DBAPIError as error:
                if getattr(error.orig, "pgcode", None) == "42501":
                    raise PipelineError(self._schema_message()) from None
                raise
        may = connection.execute(
            text(
                "SELECT has_schema_privilege(:schema, 'USAGE') "
                "AND has_schema_privilege(:schema, 'CREATE')"
            ),
            {"schema": self.schema},
        ).scalar()
        if not may:
            raise PipelineError(self._grant_message())

    def denied_message(self, error: DBAPIError) -> str:
        """The line for a statement the role was refused during the upgrade itself."""
        reason = str(error.orig).strip().splitlines()[0]
        if "permission denied for schema" in reason:
            return self._grant_message()
        return (
            f"role {self.user!r} may not change our tables in schema {self.schema!r} of "
            f"{self._where()} ({reason}): {UPGRADE_HINT} as the role that owns them."
        )

    def _grant_message(self) -> str:
        return (
            f"role {self.user!r} may not create our tables in schema {self.schema!r} of "
            f"{self._where()}: have the schema's owner run `GRANT USAGE, CREATE ON SCHEMA "
            f"{self.schema} TO {self.user};`, then {UPGRADE_HINT} again."
        )

    def _schema_message(self) -> str:
        return (
            f"role {self.user!r} may not create schema {self.schema!r} in {self._where()}: "
            f"have an owner run `CREATE SCHEMA {self.schema} AUTHORIZATION {self.user};` (or "
            f"`GRANT CREATE ON DATABASE {self.database} TO {self.user};`), then "
            f"{UPGRADE_HINT} again."
        )

    def _where(self) -> str:
        return f"{describe_url(self.url)} ({mask_url(self.url)})"

    def _first_on_search_path(self, connection: Connection) -> str | None:
        path = connection.execute(text("SELECT current_setting('search_path')")).scalar() or ""
        for entry in path.split(","):
            name = entry.strip().strip('"')
            name = self.user if name == "$user" else name
            if name and self._exists(connection, name):
                return name
        return None

    @staticmethod
    def _exists(connection: Connection, schema: str) -> bool:
        found = connection.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :name"), {"name": schema}
        ).first()
        return found is not None
