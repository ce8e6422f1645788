"""A label records what it judged: the model version and severity of the labelled event.

A rescore may store an event again, under a new id or with other numbers; the label's copy
of the event's version and severity keeps what the engineer saw when labelling it, beside
the robot, axis and span it already copied. Labels given before hold NULL there.

Revision ID: 0010_label_provenance
Revises: 0009_models_once
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_label_provenance"
down_revision = "0009_models_once"
branch_labels = None
depends_on = None

LABELS = "pm_event_labels"


def upgrade() -> None:
    with op.batch_alter_table(LABELS) as batch:
        batch.add_column(sa.Column("model_version", sa.String(64)))
        batch.add_column(sa.Column("severity", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table(LABELS) as batch:
        batch.drop_column("severity")
        batch.drop_column("model_version")
