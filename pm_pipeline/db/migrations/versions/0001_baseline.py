"""Baseline: our tables as they were before Alembic, adopted where they already exist.

A database made before migrations has these tables (made by ``create_all``) and no version
table. This revision creates only what is missing there: whole tables, the nullable columns
and the indexes that later versions of that code added. The readings table was then named
``pm_dashboard``, the name of the notebook's own table too: nothing in a database tells the
two apart, so this revision neither creates nor touches a table of that name (revision 0002
creates our readings store, ``pm_readings``).

Revision ID: 0001_baseline
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> sa.MetaData:
    """The tables of this revision, frozen here: later changes go into later revisions."""
    meta = sa.MetaData()
    sa.Table(
        "pm_model_registry",
        meta,
        sa.Column("model_version", sa.String(32), primary_key=True),
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("metrics_json", sa.Text, nullable=False),
        sa.Column("model_json", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("checks_json", sa.Text),
    )
    sa.Table(
        "pm_model_activations",
        meta,
        sa.Column("activation_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column(
            "model_version",
            sa.String(32),
            sa.ForeignKey("pm_model_registry.model_version"),
            nullable=False,
        ),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Index("ix_pm_model_activations_robot_time", "robot_id", "activated_at"),
    )
    sa.Table(
        "pm_events",
        meta,
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column("axis", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("start_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("z_mean", sa.Float, nullable=False),
        sa.Column("z_peak", sa.Float, nullable=False),
        sa.Column("p_value", sa.Float, nullable=False),
        sa.Column("n_samples", sa.Integer, nullable=False),
        sa.Column(
            "model_version",
            sa.String(32),
            sa.ForeignKey("pm_model_registry.model_version"),
            nullable=False,
        ),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_pm_events_source", "source"),
        sa.Index("ix_pm_events_model_version", "model_version"),
    )
    sa.Table(
        "pm_ingested_files",
        meta,
        sa.Column("ingest_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(1024), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("rows_in_file", sa.Integer, nullable=False),
        sa.Column("rows_added", sa.Integer, nullable=False),
        sa.Column("rows_present", sa.Integer, nullable=False),
        sa.Column("first_ts", sa.DateTime(timezone=True)),
        sa.Column("last_ts", sa.DateTime(timezone=True)),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
    )
    return meta


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table in _tables().sorted_tables:  # the registry before the tables that refer to it
        if not inspector.has_table(table.name):
            table.create(bind)
        else:
            _complete(inspector, table)


def _complete(inspector: sa.Inspector, table: sa.Table) -> None:
    """Add the nullable columns and the indexes an older ``create_all`` never added."""
    present = {column["name"] for column in inspector.get_columns(table.name)}
    for column in table.columns:
        if column.name not in present and column.nullable:
            op.add_column(table.name, sa.Column(column.name, column.type, nullable=True))
    indexes = {index["name"] for index in inspector.get_indexes(table.name)}
    for index in table.indexes:
        if index.name not in indexes:
            index.create(op.get_bind())


def downgrade() -> None:
    # Back to no version: our tables go, with their rows. A ``pm_dashboard`` stays: it is
    # not ours to drop.
    bind = op.get_bind()
    for table in reversed(_tables().sorted_tables):
        table.drop(bind, checkfirst=True)
