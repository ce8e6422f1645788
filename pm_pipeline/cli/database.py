"""The readings database for the commands that run no Dagster job (``events``, ``models``,
``lineage``, ``export``, ``robots``): Dagster's import alone would double their start-up."""

from sqlalchemy import Engine, Table

from pm_pipeline.db.migrate import open_configured_store
from pm_pipeline.db.schema import readings_table
from pm_pipeline.settings import load_settings


def configured_engine() -> Engine:
    """Our tables in the configured database (see
    :func:`~pm_pipeline.db.migrate.open_configured_store`), as the pipeline's runs use it."""
    return open_configured_store(load_settings())


def configured_table() -> Table:
    """The readings table the pipeline's resource reads by default."""
    return readings_table()
