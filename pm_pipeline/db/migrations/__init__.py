"""Alembic migrations of our own tables; run through :mod:`pm_pipeline.db.migrate`."""
