"""Readings carry context channels, and events say which channels moved.

``pm_readings`` gets ``context_1 … context_16``: numbers a robots file names with
``context_columns`` (joint temperatures, speeds, a program number), which models take as
inputs and never alarm on. Rows stored before stay blank there.

``pm_events`` gets ``contributions``: a JSON object ``{channel: share}``, largest first.
Events stored before have none (NULL); every reader treats that as the event's own axis.

Revision ID: 0006_context_and_contributions
Revises: 0004_event_lifecycle
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_context_and_contributions"
down_revision = "0005_robot_model_versions"
branch_labels = None
depends_on = None

CONTEXT_COLUMNS = tuple(f"context_{i}" for i in range(1, 17))
READINGS = "pm_readings"


def upgrade() -> None:
    with op.batch_alter_table(READINGS) as batch:
        for column in CONTEXT_COLUMNS:
            batch.add_column(sa.Column(column, sa.Float))
    with op.batch_alter_table("pm_events") as batch:
        batch.add_column(sa.Column("contributions", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("pm_events") as batch:
        batch.drop_column("contributions")
    with op.batch_alter_table(READINGS) as batch:
        for column in reversed(CONTEXT_COLUMNS):
            batch.drop_column(column)
