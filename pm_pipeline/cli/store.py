"""`pm-pipeline db upgrade` and `pm-pipeline db current`: our tables' revision.

No Dagster here: only the settings, the engine and :mod:`pm_pipeline.db.migrate`.
"""

from __future__ import annotations

import argparse

from pm_pipeline.db.engine import describe_url, open_engine, resolve_database_url
from pm_pipeline.db.migrate import (
    head_revision,
    left_alone_notice,
    store_revision,
    upgrade_store,
)


def upgrade(args: argparse.Namespace) -> int:
    """Create or upgrade our tables in the configured database; print what changed."""
    url, schema = _target(args)
    engine = open_engine(url, schema, args.settings.database_url_variable)
    try:
        before, after = upgrade_store(engine)
        notice = left_alone_notice(engine)
    finally:
        engine.dispose()
    where = _where(url, schema)
    if before == after:
        print(f"our tables in {where} are at {after}, the newest revision: nothing to do")
    else:
        print(f"our tables in {where}: upgraded from {before or 'nothing'} to {after}")
    if notice:
        print(notice)
    return 0


def current(args: argparse.Namespace) -> int:
    """Print our tables' revision, and whether it is the newest; 1 when an upgrade is due."""
    url, schema = _target(args)
    engine = open_engine(url, schema, args.settings.database_url_variable)
    try:
        revision = store_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    state = (
        "the newest" if revision == head else f"the newest is {head}: run `pm-pipeline db upgrade`"
    )
    print(f"our tables in {_where(url, schema)}: {revision or 'none'} ({state})")
    return 0 if revision == head else 1


def retain(args: argparse.Namespace) -> int:
    """Make partitions ahead and remove readings and rollups past their retention."""
    from pm_pipeline.db.migrate import open_configured_store
    from pm_pipeline.services.retention import RetentionPolicy, retain_readings

    settings = args.settings
    engine = open_configured_store(settings)
    try:
        report = retain_readings(engine, RetentionPolicy.of(settings))
    finally:
        engine.dispose()
    url, schema = _target(args)
    print(f"our readings in {_where(url, schema)}:")
    for line in report.lines():
        print(f"  {line}")
    return 0


def _target(args: argparse.Namespace) -> tuple[str, str | None]:
    settings = args.settings
    return resolve_database_url(None, settings), settings.store_schema


def _where(url: str, schema: str | None) -> str:
    return describe_url(url) + (f", schema {schema}" if schema else "")
