"""Alembic's environment for our own tables.

:func:`pm_pipeline.db.migrate.upgrade_store` runs it with a connection that already holds the
migration lock inside its transaction (``config.attributes["connection"]``), so every
revision runs in that one transaction and the version table moves with them. There is no
offline (``--sql``) mode: the first revisions inspect the database to adopt what exists.
"""

from alembic import context

from pm_pipeline.db.migrate import VERSION_TABLE, is_our_object, store_metadata


def run_migrations() -> None:
    """Run the pending revisions on the connection :func:`upgrade_store` handed over."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=store_metadata(),
        # SQLite alters a table by copying it; batch mode writes that for every ALTER.
        render_as_batch=connection.dialect.name == "sqlite",
        version_table=VERSION_TABLE,
        include_name=is_our_object,
    )
    with context.begin_transaction():
        context.run_migrations()


# Alembic runs this file with its context in place; a plain import (a walk over the
# package's modules) only defines the function.
if hasattr(context, "config"):
    run_migrations()
