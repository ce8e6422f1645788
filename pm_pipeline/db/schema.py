"""The project's tables, as SQLAlchemy Core, and the readings table built from config.

Every table carries ``robot_id`` so a fleet can partition by robot. Alembic creates and
upgrades them (:mod:`pm_pipeline.db.migrate`); a change here needs a revision in
``db/migrations/versions``, and a test fails until the two agree.
"""

from __future__ import annotations

import re

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.schema import AXES, CONTEXT_COLUMNS
from pm_pipeline.core.schema import DEFAULT_ROBOT_ID as DEFAULT_ROBOT_ID

DEFAULT_READINGS_TABLE = "pm_readings"
"""Our store of landed readings; ``pm_dashboard`` is left to the user's notebook table."""
DEFAULT_TIME_COLUMN = "timestamp_recorded"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

metadata = MetaData()

# A model version belongs to its robot: the registry is keyed by both, and what names a
# version (activations, events) names it with its robot.
REGISTRY_KEY = ("pm_model_registry.robot_id", "pm_model_registry.model_version")

model_registry = Table(
    "pm_model_registry",
    metadata,
    Column("model_version", String(32), nullable=False),
    Column("robot_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("metrics_json", Text, nullable=False),
    Column("model_json", Text, nullable=False),
    Column("run_id", String(64)),
    Column("is_active", Boolean, nullable=False, default=False),
    Column("checks_json", Text),
    PrimaryKeyConstraint("robot_id", "model_version", name="pk_pm_model_registry"),
)

model_activations = Table(
    "pm_model_activations",
    metadata,
    Column("activation_id", Integer, primary_key=True, autoincrement=True),
    Column("robot_id", String(64), nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("activated_at", DateTime(timezone=True), nullable=False),
    Column("reason", String(512), nullable=False),
    Column("run_id", String(64)),
    ForeignKeyConstraint(
        ["robot_id", "model_version"], REGISTRY_KEY, name="fk_pm_model_activations_model_version"
    ),
    Index("ix_pm_model_activations_robot_time", "robot_id", "activated_at"),
)

events = Table(
    "pm_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("robot_id", String(64), nullable=False),
    Column("axis", String(16), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("start_ts", DateTime(timezone=True), nullable=False),
    Column("end_ts", DateTime(timezone=True), nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("z_mean", Float, nullable=False),
    Column("z_peak", Float, nullable=False),
    Column("p_value", Float, nullable=False),
    Column("n_samples", Integer, nullable=False),
    Column("model_version", String(32), nullable=False),
    Column("source", String(512), nullable=False),
    Column("run_id", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # open while the readings may still continue the event; resolved once they show its end.
    Column("status", String(8), nullable=False, server_default="resolved"),
    Column("resolved_at", DateTime(timezone=True)),
    ForeignKeyConstraint(
        ["robot_id", "model_version"], REGISTRY_KEY, name="fk_pm_events_model_version"
    ),
    # JSON {channel: share}, largest first; NULL for events stored before it was recorded.
    Column("contributions", Text),
    # Why it was resolved when its readings did not end it (maintenance); else NULL.
    Column("resolution", String(512)),
    Index("ix_pm_events_source", "source"),
    Index("ix_pm_events_model_version", "model_version"),
    Index("ix_pm_events_robot_axis_time", "robot_id", "axis", "start_ts"),
)

notification_outbox = Table(
    "pm_notification_outbox",
    metadata,
    Column("notification_id", Integer, primary_key=True, autoincrement=True),
    # One row per change of an event per channel: a rescored file or a repeated store
    # computes the same key, and the unique constraint lets nothing new in.
    Column("notification_key", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("robot_id", String(64), nullable=False),
    Column("event_id", Integer),  # as stored then; a rescore gives the event a new id
    Column("change", String(16), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("last_error", String(1024)),
    UniqueConstraint("notification_key", "channel", name="uq_pm_notification_outbox_key"),
    Index("ix_pm_notification_outbox_due", "delivered_at", "next_attempt_at"),
)

ingested_files = Table(
    "pm_ingested_files",
    metadata,
    Column("ingest_id", Integer, primary_key=True, autoincrement=True),
    Column("robot_id", String(64), nullable=False),
    Column("file_name", String(1024), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("rows_in_file", Integer, nullable=False),
    Column("rows_added", Integer, nullable=False),
    Column("rows_present", Integer, nullable=False),
    Column("first_ts", DateTime(timezone=True)),
    Column("last_ts", DateTime(timezone=True)),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
)


event_labels = Table(
    "pm_event_labels",
    metadata,
    Column("label_id", Integer, primary_key=True, autoincrement=True),
    # No foreign key: a rescore may store the event under a new id; the copied robot, axis
    # and span keep the label's effect on training (see pm_pipeline.core.feedback).
    Column("event_id", Integer, nullable=False),
    Column("robot_id", String(64), nullable=False),
    Column("axis", String(16), nullable=False),
    Column("event_start", DateTime(timezone=True), nullable=False),
    Column("event_end", DateTime(timezone=True), nullable=False),
    Column("label", String(16), nullable=False),
    Column("note", Text),
    Column("labelled_by", String(128), nullable=False),
    Column("labelled_at", DateTime(timezone=True), nullable=False),
    # The labelled event's model version and severity when it was labelled; NULL in labels
    # given before they were recorded.
    Column("model_version", String(64)),
    Column("severity", String(8)),
    Index("ix_pm_event_labels_robot", "robot_id", "labelled_at"),
    Index("ix_pm_event_labels_event", "event_id"),
)
"""Every label given to an event, never overwritten: the newest one counts."""

maintenance = Table(
    "pm_maintenance",
    metadata,
    Column("maintenance_id", Integer, primary_key=True, autoincrement=True),
    Column("robot_id", String(64), nullable=False),
    Column("performed_at", DateTime(timezone=True), nullable=False),
    Column("note", Text),
    Column("recorded_by", String(128), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_pm_maintenance_robot", "robot_id", "performed_at"),
)
"""Work done on a robot: its next model trains on readings after ``performed_at``."""


asset_values = Table(
    "pm_asset_values",
    metadata,
    Column("asset_key", String(255), nullable=False),
    Column("partition_key", String(255), nullable=False),
    Column("value_format", String(16), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("run_id", String(64)),
    Column("stored_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("asset_key", "partition_key", name="pk_pm_asset_values"),
)
"""The values one step hands to the next (a training window, a scaler, the models), so any
step can run on any host that reaches the database."""


ROLLUP_STATISTICS = ("count", "mean", "min", "max")
"""What a rollup keeps of each axis per minute: the readings with a value, and their mean,
minimum and maximum."""

readings_minute = Table(
    "pm_readings_minute",
    metadata,
    Column("robot_id", String(64), nullable=False),
    Column("minute", DateTime(timezone=True), nullable=False),
    Column("readings", Integer, nullable=False),
    *(
        Column(f"{axis}_{statistic}", Integer if statistic == "count" else Float)
        for axis in AXES
        for statistic in ROLLUP_STATISTICS
    ),
    PrimaryKeyConstraint("robot_id", "minute", name="pk_pm_readings_minute"),
)
"""1-minute rollups of our readings (per robot and minute), kept beside them for the views
that span long periods, and kept longer than them (see :mod:`pm_pipeline.db.rollups`)."""


def validate_identifier(value: str, what: str) -> str:
    """Accept a plain SQL identifier (letters, digits, underscore), or raise PipelineError."""
    if not _IDENTIFIER.match(value):
        raise PipelineError(
            f"{what} {value!r} is not a valid identifier; use letters, digits and underscores, "
            "starting with a letter or underscore."
        )
    return value


def readings_table(
    name: str = DEFAULT_READINGS_TABLE, time_column: str = DEFAULT_TIME_COLUMN
) -> Table:
    """The readings table ``[schema.]name`` with a configurable time column.

    Parameters
    ----------
    name
        Table name, optionally schema-qualified; each part is validated as an identifier.
    time_column
        Name of the timestamp column; validated as an identifier.

    Returns
    -------
    sqlalchemy.Table
        Columns ``robot_id``, the time column, ``axis_1 … axis_8`` and ``context_1 …
        context_16``; keyed by robot and time.
    """
    schema, _, table = name.rpartition(".")
    validate_identifier(table, "readings table")
    if schema:
        validate_identifier(schema, "readings schema")
    validate_identifier(time_column, "time column")
    own = MetaData()
    return Table(
        table,
        own,
        Column("robot_id", String(64), nullable=False),
        Column(time_column, DateTime(timezone=True), nullable=False),
        *(Column(axis, Float) for axis in AXES),
        *(Column(context, Float) for context in CONTEXT_COLUMNS),
        PrimaryKeyConstraint("robot_id", time_column, name=f"pk_{table}"),
        schema=schema or None,
    )


def time_column_of(readings: Table) -> str:
    """The name of the readings table's time column (neither robot, axis nor context)."""
    others = ("robot_id", *AXES, *CONTEXT_COLUMNS)
    return next(c.name for c in readings.columns if c.name not in others)


def store_metadata() -> MetaData:
    """Every table of ours at head, the readings store included: what Alembic migrates to.

    Returns
    -------
    sqlalchemy.MetaData
        A new collection holding copies of :data:`metadata`'s tables and the default
        readings table.
    """
    store = MetaData()
    for table in [*metadata.sorted_tables, readings_table()]:
        table.to_metadata(store)
    return store
