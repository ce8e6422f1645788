"""The notification outbox and the values steps hand each other, both new tables.

``pm_notification_outbox`` holds one row per change of an event per channel, written in the
transaction that stores the event; ``pm_asset_values`` holds what one step hands the next
(the training window, the scaler, the models), so no step needs another host's disk.

Revision ID: 0003_outbox_and_step_values
Revises: 0002_readings_store
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_outbox_and_step_values"
down_revision = "0002_readings_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pm_notification_outbox",
        sa.Column("notification_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notification_key", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Integer),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("payload_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.String(1024)),
        sa.UniqueConstraint("notification_key", "channel", name="uq_pm_notification_outbox_key"),
    )
    op.create_index(
        "ix_pm_notification_outbox_due",
        "pm_notification_outbox",
        ["delivered_at", "next_attempt_at"],
    )
    op.create_table(
        "pm_asset_values",
        sa.Column("asset_key", sa.String(255), nullable=False),
        sa.Column("partition_key", sa.String(255), nullable=False),
        sa.Column("value_format", sa.String(16), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("asset_key", "partition_key", name="pk_pm_asset_values"),
    )


def downgrade() -> None:
    op.drop_table("pm_asset_values")
    op.drop_index("ix_pm_notification_outbox_due", table_name="pm_notification_outbox")
    op.drop_table("pm_notification_outbox")
