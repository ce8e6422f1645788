"""A model version belongs to its robot: the registry is keyed by robot and version.

Until now the registry was keyed by the version alone, a content hash of the model, so two
robots trained on the same readings got the same version and the second could not register
or activate it. New versions hash the robot id in as well; this revision keys the registry by
(``robot_id``, ``model_version``), and the activations and events that name a version now
refer to it together with their robot, so an event can never name another robot's version.
Every row is kept: no version changes its name.

SQLite rebuilds each table (Alembic's batch mode); its foreign keys are checked when the
transaction commits, so the registry may be rebuilt while rows refer to it.

Revision ID: 0005_robot_model_versions
Revises: 0004_event_lifecycle
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine.interfaces import ReflectedForeignKeyConstraint

revision = "0005_robot_model_versions"
down_revision = "0004_event_lifecycle"
branch_labels = None
depends_on = None

REGISTRY = "pm_model_registry"
CHILDREN = ("pm_model_activations", "pm_events")
KEY = ("robot_id", "model_version")
# Names Alembic gives the unnamed constraints of 0001 in SQLite's batch mode.
NAMING = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}


def upgrade() -> None:
    _rekey(KEY)


def downgrade() -> None:
    # Back to one row per version: refused while two robots hold the same one.
    shared = op.get_bind().execute(
        sa.text(f"SELECT model_version FROM {REGISTRY} GROUP BY model_version HAVING count(*) > 1")
    )
    if shared.first() is not None:
        raise RuntimeError("two robots hold one model version; 0004 cannot store that")
    _rekey(("model_version",))


def _rekey(key: tuple[str, ...]) -> None:
    """Key the registry by ``key``, and point the activations and events at it."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    inspector = sa.inspect(bind)
    for child in CHILDREN:
        with op.batch_alter_table(child, naming_convention=NAMING) as batch:
            for foreign_key in inspector.get_foreign_keys(child):
                if foreign_key["referred_table"] == REGISTRY:
                    batch.drop_constraint(_name(child, foreign_key), type_="foreignkey")
    primary = inspector.get_pk_constraint(REGISTRY).get("name") or f"pk_{REGISTRY}"
    with op.batch_alter_table(REGISTRY, naming_convention=NAMING) as batch:
        batch.drop_constraint(primary, type_="primary")
        batch.create_primary_key(f"pk_{REGISTRY}", list(key))
    for child in CHILDREN:
        with op.batch_alter_table(child, naming_convention=NAMING) as batch:
            batch.create_foreign_key(f"fk_{child}_model_version", REGISTRY, list(key), list(key))


def _name(table: str, foreign_key: ReflectedForeignKeyConstraint) -> str:
    """The constraint's own name (Postgres), else the name the naming convention gives it."""
    columns = foreign_key["constrained_columns"]
    return foreign_key.get("name") or f"fk_{table}_{columns[0]}_{REGISTRY}"
