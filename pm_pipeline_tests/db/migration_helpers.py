"""Databases as ``main`` left them before Alembic, and exact snapshots of their rows."""

import hashlib
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pm_pipeline.db.migrate import VERSION_TABLE, is_our_object
from pm_pipeline.db.schema import store_metadata
from pm_pipeline_tests.fixtures import main_schema

START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
OUR_TABLES = {
    "pm_readings",
    "pm_model_registry",
    "pm_model_activations",
    "pm_events",
    "pm_ingested_files",
    "pm_notification_outbox",
    "pm_asset_values",
    "pm_event_labels",
    "pm_maintenance",
    "pm_readings_minute",
}


def fill_main_database(engine: sa.Engine) -> None:
    """Our tables as ``main`` made them, with rows in every one (and blanks where allowed)."""
    main_schema.create_tables(engine)
    readings = [
        {
            "robot_id": robot,
            "timestamp_recorded": START + timedelta(seconds=2 * n),
            **{
                axis: None if (n + a) % 7 == 0 else 0.5 + n / 1000 + a
                for a, axis in enumerate(main_schema.AXES)
            },
        }
        for robot in ("robot-1", "robot-2")
        for n in range(150)
    ]
    versions = [
        {
            "model_version": f"v{n}abc",
            "robot_id": "robot-1",
            "created_at": START + timedelta(hours=n),
            "window_start": START,
            "window_end": START + timedelta(hours=5),
            "row_count": 150,
            "metrics_json": '{"r2": 0.9}',
            "model_json": '{"axes": {}}',
            "run_id": f"run-{n}" if n else None,
            "is_active": n == 1,
            "checks_json": '{"recall": 1.0}' if n else None,
        }
        for n in range(2)
    ]
    activations = [
        {"robot_id": "robot-1", "model_version": f"v{n % 2}abc", "reason": f"because {n}",
         "activated_at": START + timedelta(hours=n), "run_id": None if n == 2 else f"run-{n}"}
        for n in range(3)
    ]  # fmt: skip
    events = [
        {"robot_id": "robot-1", "axis": f"axis_{n + 1}", "severity": ("ALERT", "ERROR")[n % 2],
         "start_ts": START + timedelta(minutes=n), "end_ts": START + timedelta(minutes=n + 1),
         "duration_s": 60.0 + n, "z_mean": 3.25, "z_peak": 4.5 + n, "p_value": 1e-5 * (n + 1),
         "n_samples": 30, "model_version": "v1abc", "source": ("synthetic", "landed.csv")[n % 2],
         "run_id": "run-1", "created_at": START + timedelta(days=1)}
        for n in range(4)
    ]  # fmt: skip
    ingests = [
        {"robot_id": "robot-1", "file_name": f"export{n}.csv", "content_sha256": "ab" * 32,
         "rows_in_file": 150, "rows_added": 150 - n, "rows_present": n,
         "first_ts": START if n else None, "last_ts": START + timedelta(minutes=5) if n else None,
         "ingested_at": START + timedelta(days=n)}
        for n in range(2)
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(main_schema.readings.insert(), readings)
        connection.execute(main_schema.model_registry.insert(), versions)
        connection.execute(main_schema.model_activations.insert(), activations)
        connection.execute(main_schema.events.insert(), events)
        connection.execute(main_schema.ingested_files.insert(), ingests)


def snapshot(engine: sa.Engine, name: str) -> tuple[list[str], list[tuple]]:
    """A table's column names and every row, ordered by its primary key, as stored."""
    with engine.connect() as connection:
        table = sa.Table(name, sa.MetaData(), autoload_with=connection)
        key = list(table.primary_key.columns) or list(table.columns)
        rows = connection.execute(sa.select(table).order_by(*key)).all()
    return [column.name for column in table.columns], [tuple(row) for row in rows]


def kept_columns(table: tuple[list[str], list[tuple]], columns: list[str]) -> tuple:
    """A snapshot cut down to ``columns`` (a later revision may add columns)."""
    names, rows = table
    picked = [names.index(column) for column in columns]
    return columns, [tuple(row[i] for i in picked) for row in rows]


def checksum(engine: sa.Engine, name: str) -> str:
    """A digest of a table's columns, their types, its key and every row."""
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        shape = (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(name)],
            inspector.get_pk_constraint(name),
        )
    return hashlib.sha256(repr((shape, snapshot(engine, name))).encode()).hexdigest()


def drift(engine: sa.Engine, metadata: sa.MetaData | None = None) -> list:
    """Alembic's autogenerate diff between our tables in the database and ``schema.py``."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_name": is_our_object, "version_table": VERSION_TABLE}
        )
        return compare_metadata(context, metadata if metadata is not None else store_metadata())


def table_names(engine: sa.Engine | sa.Connection, schema: str | None = None) -> set[str]:
    """The tables in the database (in ``schema``, else the connection's), partitions of a
    partitioned table left out: our monthly ones are made as the readings need them."""
    if isinstance(engine, sa.Engine):
        with engine.connect() as connection:
            return table_names(connection, schema)
    names = set(sa.inspect(engine).get_table_names(schema=schema))
    if engine.dialect.name != "postgresql":
        return names
    partitions = engine.execute(
        sa.text(
            "SELECT relname FROM pg_class WHERE relispartition "
            "AND relnamespace = coalesce(to_regnamespace(:schema), "
            "to_regnamespace(current_schema()))"
        ),
        {"schema": schema},
    ).scalars()
    return names - set(partitions)
