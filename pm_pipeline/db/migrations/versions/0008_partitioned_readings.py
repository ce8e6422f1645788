"""Readings partitioned by month on Postgres, and 1-minute rollups beside them.

On Postgres ``pm_readings`` becomes a table range-partitioned on its time column, one
partition a month and a default partition (see :mod:`pm_pipeline.db.partitions`). The
partitioned table is made from the existing one's columns (``LIKE``), whatever columns
earlier revisions added, gets the partitions its rows need and every row, the same grants
and owner, and then takes the old table's name and primary key. SQLite stays unpartitioned.

``pm_readings_minute`` holds the rollups (partitioned the same way on Postgres) and is
filled from the readings already stored.

Revision ID: 0008_partitioned_readings
Revises: 0004_event_lifecycle
"""

import pandas as pd
import sqlalchemy as sa
from alembic import op

from pm_pipeline.db.partitions import (
    DEFAULT_SUFFIX,
    create_partitioned_like,
    ensure_months,
    ensure_months_ahead,
    is_partitioned,
    month_partitions,
    months_spanning,
)
from pm_pipeline.db.rollups import rollup_query

revision = "0008_partitioned_readings"
down_revision = "0007_labels_and_maintenance"
branch_labels = None
depends_on = None

READINGS, ROLLUPS = "pm_readings", "pm_readings_minute"
OLD = "pm_readings_unpartitioned"
AXES = tuple(f"axis_{n}" for n in range(1, 9))
MONTHS_AHEAD = 3


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres and not is_partitioned(bind, READINGS):
        _partition_readings(bind)
    _rollups(postgres).create(bind)
    if postgres:
        bind.execute(
            sa.text(f"CREATE TABLE {ROLLUPS}{DEFAULT_SUFFIX} PARTITION OF {ROLLUPS} DEFAULT")
        )
    _fill_rollups(bind)
    if postgres:
        now = pd.Timestamp.now(tz="UTC")
        for parent in (READINGS, ROLLUPS):
            ensure_months_ahead(bind, parent, now, MONTHS_AHEAD)


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_table(ROLLUPS)  # its partitions go with it
    if bind.dialect.name == "postgresql" and is_partitioned(bind, READINGS):
        _unpartition_readings(bind)


def _time_column(bind: sa.Connection) -> str:
    return sa.inspect(bind).get_pk_constraint(READINGS)["constrained_columns"][1]


def _partition_readings(bind: sa.Connection) -> None:
    """Swap ``pm_readings`` for a partitioned copy holding every row."""
    time_column = _time_column(bind)
    key = sa.inspect(bind).get_pk_constraint(READINGS)["name"]
    op.execute(f"ALTER TABLE {READINGS} RENAME TO {OLD}")
    op.execute(f'ALTER TABLE {OLD} RENAME CONSTRAINT "{key}" TO "pk_{OLD}"')
    create_partitioned_like(bind, OLD, READINGS, time_column)
    first, last = bind.execute(
        sa.text(f'SELECT min("{time_column}"), max("{time_column}") FROM {OLD}')
    ).one()
    if first is not None:
        ensure_months(bind, READINGS, months_spanning(first, last))
    op.execute(f"INSERT INTO {READINGS} SELECT * FROM {OLD}")
    _same_rights(bind, OLD, READINGS)
    op.execute(f"DROP TABLE {OLD}")


def _unpartition_readings(bind: sa.Connection) -> None:
    """Swap the partitioned ``pm_readings`` back for a plain table holding every row."""
    time_column = _time_column(bind)
    op.execute(f"ALTER TABLE {READINGS} RENAME TO {OLD}")
    op.execute(f'ALTER TABLE {OLD} RENAME CONSTRAINT "pk_{READINGS}" TO "pk_{OLD}"')
    op.execute(f"CREATE TABLE {READINGS} (LIKE {OLD} INCLUDING DEFAULTS)")
    op.execute(
        f'ALTER TABLE {READINGS} ADD CONSTRAINT "pk_{READINGS}" '
        f'PRIMARY KEY (robot_id, "{time_column}")'
    )
    op.execute(f"INSERT INTO {READINGS} SELECT * FROM {OLD}")
    _same_rights(bind, OLD, READINGS)
    op.execute(f"DROP TABLE {OLD}")  # and its partitions


def _same_rights(bind: sa.Connection, source: str, target: str) -> None:
    """Give ``target`` (and its partitions) ``source``'s owner and every grant on it."""
    owner = bind.execute(
        sa.text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(:t)"),
        {"t": source},
    ).scalar_one()
    quote = bind.dialect.identifier_preparer.quote
    if owner != bind.execute(sa.text("SELECT current_user")).scalar_one():
        for name in [target, *(p.name for p in month_partitions(bind, target))]:
            op.execute(f"ALTER TABLE {quote(name)} OWNER TO {quote(owner)}")
        if is_partitioned(bind, target):
            op.execute(f"ALTER TABLE {quote(target + DEFAULT_SUFFIX)} OWNER TO {quote(owner)}")
    grants = bind.execute(
        sa.text(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, "
            "a.privilege_type, a.is_grantable FROM pg_class c, aclexplode(c.relacl) a "
            "WHERE c.oid = to_regclass(:t) AND a.grantee <> c.relowner"
        ),
        {"t": source},
    ).all()
    for grantee, privilege, grantable in grants:
        role = grantee if grantee == "PUBLIC" else quote(grantee)
        option = " WITH GRANT OPTION" if grantable else ""
        op.execute(f"GRANT {privilege} ON {quote(target)} TO {role}{option}")


def _rollups(postgres: bool) -> sa.Table:
    statistics = []
    for axis in AXES:
        statistics += [
            sa.Column(f"{axis}_count", sa.Integer),
            sa.Column(f"{axis}_mean", sa.Float),
            sa.Column(f"{axis}_min", sa.Float),
            sa.Column(f"{axis}_max", sa.Float),
        ]
    table = sa.Table(
        ROLLUPS,
        sa.MetaData(),
        sa.Column("robot_id", sa.String(64), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("readings", sa.Integer, nullable=False),
        *statistics,
        sa.PrimaryKeyConstraint("robot_id", "minute", name=f"pk_{ROLLUPS}"),
    )
    if postgres:
        table.dialect_options["postgresql"]["partition_by"] = "RANGE (minute)"
    return table


def _fill_rollups(bind: sa.Connection) -> None:
    """Roll up the readings already stored, with the same query a load uses."""
    readings = sa.Table(READINGS, sa.MetaData(), autoload_with=bind)
    time_column = readings.c[_time_column(bind)]
    first, last = bind.execute(sa.select(sa.func.min(time_column), sa.func.max(time_column))).one()
    if first is None:
        return
    ensure_months(bind, ROLLUPS, months_spanning(first, last))
    rows = rollup_query(bind, readings)
    names = [column.name for column in _rollups(False).columns]
    bind.execute(sa.insert(_rollups(False)).from_select(names, rows))
