"""Our tables at the newest revision, for tests that use the store without testing its
migrations: runtime code never creates tables, so a test's database is upgraded first, the
way `pm-pipeline db upgrade` does it."""

from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.migrate import head_revision, upgrade_store


def upgraded(url: str, store_schema: str | None = None) -> str:
    """Bring our tables in ``url`` to head and return ``url``."""
    engine = open_engine(url, store_schema)
    try:
        assert upgrade_store(engine)[1] == head_revision()
    finally:
        engine.dispose()
    return url
