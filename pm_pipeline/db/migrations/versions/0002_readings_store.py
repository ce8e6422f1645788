"""Our readings store is ``pm_readings``, created here, so a user's own ``pm_dashboard`` can
sit beside it untouched.

The notebook's table is called ``pm_dashboard``, and so was our readings table before
migrations, with the very same layout (a ``robot_id`` column and a key of robot and time).
Nothing in a database proves which of the two a ``pm_dashboard`` is, so this revision never
renames, alters or writes it: our tables are only those our revisions create. A store made
before migrations keeps its old readings in ``pm_dashboard``, where the pipeline reads them
as a source (``PM_SOURCE_TABLE=pm_dashboard``) and copies them into ``pm_readings``;
``pm-pipeline db upgrade`` says so when it finds such a table.

Revision ID: 0002_readings_store
Revises: 0001_baseline
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_readings_store"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

AXES = tuple(f"axis_{n}" for n in range(1, 9))
READINGS = "pm_readings"


def upgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table(READINGS):
        _readings().create(op.get_bind())


def downgrade() -> None:
    # ``pm_readings`` stays with its rows: dropping it would lose readings that no earlier
    # revision has a place for, and upgrading again finds it as it was.
    pass


def _readings() -> sa.Table:
    return sa.Table(
        READINGS,
        sa.MetaData(),
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column("timestamp_recorded", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(axis, sa.Float) for axis in AXES),
        sa.PrimaryKeyConstraint("robot_id", "timestamp_recorded", name=f"pk_{READINGS}"),
    )
