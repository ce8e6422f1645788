"""Resources: the settings and the readings database, shared by every asset and the CLI;
which robot a step works on is its partition, not the resource's."""

from functools import cached_property

import dagster as dg
from pydantic import PrivateAttr
from sqlalchemy import Engine, Table

from pm_pipeline.config.settings import Settings, load_settings
from pm_pipeline.db.engine import mask_url, resolve_database_url
from pm_pipeline.db.migrate import open_configured_store
from pm_pipeline.db.robot_store import RobotStore
from pm_pipeline.db.schema import (
    DEFAULT_READINGS_TABLE,
    DEFAULT_TIME_COLUMN,
    readings_table,
)


class ReadingsDatabaseResource(dg.ConfigurableResource):
    """The readings database: Postgres/Neon in production, a SQLite file by default.

    ``url`` left empty means ``PM_DATABASE_URL`` (then ``DATABASE_URL``) from the settings
    read when the URL is first needed in a run or command, and the embedded SQLite file in
    ``PM_STATE_DIR`` when neither is set. Our tables there must be at the newest revision
    (``pm-pipeline db upgrade``); only the embedded file is upgraded on first use.
    """

    url: str | None = None
    readings_table: str = DEFAULT_READINGS_TABLE
    time_column: str = DEFAULT_TIME_COLUMN

    _engine: Engine | None = PrivateAttr(default=None)

    @cached_property
    def resolved_url(self) -> str:
        return resolve_database_url(self.url, load_settings())

    @property
    def masked_url(self) -> str:
        """The URL with its password hidden, for logs and metadata."""
        return mask_url(self.resolved_url)

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = open_configured_store(load_settings(), self.url)
        return self._engine

    def table(self, name: str | None = None) -> Table:
        """The readings table named in config, or another one by name."""
        return readings_table(name or self.readings_table, self.time_column)

    def robot_store(self, robot_id: str) -> RobotStore:
        """The robot's part of the store: the engine, the configured readings table, the id."""
        return RobotStore(self.engine(), self.table(), robot_id)


class SettingsResource(dg.ConfigurableResource):
    """Every ``PM_*`` setting, read and validated once per run, sensor tick or schedule tick
    (each gets its own copy of the resource), so asset bodies never read the environment; a
    malformed setting fails with one line per variable (see
    :func:`pm_pipeline.config.settings.load_settings`)."""

    @cached_property
    def loaded(self) -> Settings:
        return load_settings()
