"""The model lives once, in the registry: the axis-model assets stored a copy of it each.

``axis_models`` now reports the model version as its data version and stores nothing; the
steps after it load the model from ``pm_model_registry`` by that version. The eight pickled
copies per robot that earlier versions left in ``pm_asset_values`` are deleted.

Revision ID: 0009_models_once
Revises: 0008_partitioned_readings
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_models_once"
down_revision = "0008_partitioned_readings"
branch_labels = None
depends_on = None

AXIS_MODEL_VALUES = "axis_models/%"


def upgrade() -> None:
    values = sa.table("pm_asset_values", sa.column("asset_key", sa.String))
    op.execute(values.delete().where(values.c.asset_key.like(AXIS_MODEL_VALUES)))


def downgrade() -> None:
    # Nothing to restore: materializing axis_models again rebuilds whatever an older
    # version of the code reads.
    pass
