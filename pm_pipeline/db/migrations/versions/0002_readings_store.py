"""Our readings store is ``pm_readings``, so a user's own ``pm_dashboard`` can sit beside it.

The notebook's table is called ``pm_dashboard`` too. Ours is the one keyed by robot and
time: a ``robot_id`` column and a primary key of ``robot_id`` and one time column. That one
is renamed, with its primary key, and keeps its rows and its time column. Any other
``pm_dashboard`` is a user's and is never touched; ``pm_readings`` is then created empty.

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
OLD, NEW = "pm_dashboard", "pm_readings"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if inspector.has_table(NEW):
        return
    time_column = _our_time_column(inspector, OLD)
    if time_column is None:
        _readings(NEW, "timestamp_recorded").create(op.get_bind())
    else:
        _rename(OLD, NEW, time_column, inspector.get_pk_constraint(OLD).get("name"))


def downgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    time_column = _our_time_column(inspector, NEW)
    if time_column is not None and not inspector.has_table(OLD):
        _rename(NEW, OLD, time_column, inspector.get_pk_constraint(NEW).get("name"))


def _our_time_column(inspector: sa.Inspector, name: str) -> str | None:
    """The time column of ``name`` when it is our readings table, else None."""
    if not inspector.has_table(name):
        return None
    columns = {column["name"] for column in inspector.get_columns(name)}
    key = inspector.get_pk_constraint(name).get("constrained_columns") or []
    if "robot_id" not in columns or len(key) != 2 or key[0] != "robot_id":
        return None
    return key[1]


def _rename(old: str, new: str, time_column: str, key: str | None) -> None:
    """Rename the table, and its primary key ``key`` to ``pk_<new>``."""
    op.rename_table(old, new)
    if key == f"pk_{new}":
        return
    if op.get_bind().dialect.name == "sqlite":
        # SQLite keeps the key's name only in the table's SQL: copy into a table with the
        # new name (batch mode), rows and all.
        with op.batch_alter_table(new, recreate="always") as batch:
            if key:
                batch.drop_constraint(key, type_="primary")
            batch.create_primary_key(f"pk_{new}", ["robot_id", time_column])
    else:
        # Postgres renames the key's index with it.
        preparer = op.get_bind().dialect.identifier_preparer
        op.execute(
            f"ALTER TABLE {preparer.quote(new)} RENAME CONSTRAINT "
            f"{preparer.quote(str(key))} TO {preparer.quote(f'pk_{new}')}"
        )


def _readings(name: str, time_column: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column(time_column, sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(axis, sa.Float) for axis in AXES),
        sa.PrimaryKeyConstraint("robot_id", time_column, name=f"pk_{name}"),
    )
