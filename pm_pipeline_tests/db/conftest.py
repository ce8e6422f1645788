"""Databases with nothing of ours in them, for the migration tests."""

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new SQLite file, or a fresh Postgres schema (dropped afterwards): never upgraded."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    make: Callable[[], str] = request.getfixturevalue("postgres_schema_url")
    return make()
