"""The engineer answers back: labels on events, maintenance records, and why an event ended.

``pm_event_labels`` keeps every label ever given (``confirmed``, ``false-alarm``,
``new-normal``), who gave it, when and why; the newest label of an event counts. A label
copies the event's robot, axis and span, so its effect on training survives a rescore that
stores the event under a new id. ``pm_maintenance`` records work on a robot: the next model
trains on readings after it. ``pm_events.resolution`` says why an event was resolved when
it was not its readings that ended it (maintenance).

Revision ID: 0007_labels_and_maintenance
Revises: 0004_event_lifecycle
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_labels_and_maintenance"
down_revision = "0006_context_and_contributions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pm_event_labels",
        sa.Column("label_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column("axis", sa.String(16), nullable=False),
        sa.Column("event_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("labelled_by", sa.String(128), nullable=False),
        sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_pm_event_labels_robot", "pm_event_labels", ["robot_id", "labelled_at"])
    op.create_index("ix_pm_event_labels_event", "pm_event_labels", ["event_id"])
    op.create_table(
        "pm_maintenance",
        sa.Column("maintenance_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column("performed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_pm_maintenance_robot", "pm_maintenance", ["robot_id", "performed_at"])
    with op.batch_alter_table("pm_events") as batch:
        batch.add_column(sa.Column("resolution", sa.String(512)))


def downgrade() -> None:
    with op.batch_alter_table("pm_events") as batch:
        batch.drop_column("resolution")
    op.drop_index("ix_pm_maintenance_robot", table_name="pm_maintenance")
    op.drop_table("pm_maintenance")
    op.drop_index("ix_pm_event_labels_event", table_name="pm_event_labels")
    op.drop_index("ix_pm_event_labels_robot", table_name="pm_event_labels")
    op.drop_table("pm_event_labels")
