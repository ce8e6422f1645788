"""Events get a lifecycle: ``status`` (``open`` or ``resolved``) and ``resolved_at``.

Until now "open" was worked out when asked: an event ending within the gap reach of the
robot's newest reading. It is now stored with the event, and a later file that continues an
event extends it in place and resolves it when its readings show it ended.

Rows stored before this revision become ``resolved`` as of when they were stored
(``resolved_at = created_at``): the old rule needed each model's cadence, which SQL cannot
read, and an event wrongly reopened would notify again. Scoring the robot's newest file
again recomputes the status of the events it touches.

Revision ID: 0004_event_lifecycle
Revises: 0003_outbox_and_step_values
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_event_lifecycle"
down_revision = "0003_outbox_and_step_values"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pm_events") as batch:
        batch.add_column(
            sa.Column("status", sa.String(8), nullable=False, server_default="resolved")
        )
        batch.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE pm_events SET resolved_at = created_at WHERE status = 'resolved'")
    op.create_index("ix_pm_events_robot_axis_time", "pm_events", ["robot_id", "axis", "start_ts"])


def downgrade() -> None:
    op.drop_index("ix_pm_events_robot_axis_time", table_name="pm_events")
    with op.batch_alter_table("pm_events") as batch:
        batch.drop_column("resolved_at")
        batch.drop_column("status")
