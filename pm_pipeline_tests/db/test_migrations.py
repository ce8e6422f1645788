"""Alembic upgrades of our tables, on SQLite (batch mode) and Postgres: a fresh store, a
database made by ``main`` before migrations (every row kept), a user's own ``pm_dashboard``
beside ours, repeated and simultaneous upgrades, and ``schema.py`` never drifting from head."""

import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.db.asset_values import store_asset_value
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.migrate import (
    VERSION_TABLE,
    ensure_store,
    head_revision,
    known_revisions,
    left_alone_notice,
    script_revisions,
    store_config,
    store_revision,
    upgrade_store,
)
from pm_pipeline.db.partitions import is_partitioned, month_partitions
from pm_pipeline.db.schema import asset_values, store_metadata
from pm_pipeline_tests.db.migration_helpers import (
    OUR_TABLES,
    checksum,
    drift,
    fill_main_database,
    kept_columns,
    snapshot,
    table_names,
)
from pm_pipeline_tests.fixtures import main_schema


def test_head_is_the_newest_revision() -> None:
    # Other branches chain their revisions on these ids.
    assert head_revision() == "0010_label_provenance"


def test_the_revision_files_name_alembic_s_chain_in_order() -> None:
    """Opening the store reads the revisions from the file names, without Alembic: they must
    be the chain Alembic reads from the same files, oldest first."""
    script = ScriptDirectory.from_config(store_config())
    chain = [revision for revision in reversed(list(script.walk_revisions()))]
    assert [revision.revision for revision in chain] == script_revisions()
    assert [Path(str(revision.path)).stem for revision in chain] == script_revisions()
    assert script.get_current_head() == head_revision()
    assert known_revisions() == {revision.revision for revision in chain}


def test_the_stored_revision_is_what_alembic_reads(empty_url: str) -> None:
    engine = open_engine(empty_url)

    def alembic_reads() -> str | None:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()

    assert store_revision(engine) is None and alembic_reads() is None
    upgrade_store(engine, "0002_readings_store")
    assert store_revision(engine) == alembic_reads() == "0002_readings_store"
    upgrade_store(engine)
    assert store_revision(engine) == alembic_reads() == head_revision()


def test_a_store_at_head_opens_without_alembic(empty_url: str) -> None:
    """Every command, code server and run worker opens the store; only an upgrade needs
    Alembic (and the template engine it loads, 0.2 s of CPU)."""
    upgrade_store(open_engine(empty_url))
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pm_pipeline.db.migrate import open_store; "
            f"open_store({empty_url!r}, None, embedded=False); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == "[]"


def test_a_fresh_database_gets_every_table_at_head(empty_url: str) -> None:
    engine = open_engine(empty_url)
    assert store_revision(engine) is None
    assert upgrade_store(engine) == (None, "0010_label_provenance")
    assert table_names(engine) == OUR_TABLES | {"pm_alembic_version"}
    assert store_revision(engine) == head_revision()
    with engine.connect() as connection:
        key = sa.inspect(connection).get_pk_constraint("pm_readings")
    assert (key["name"], key["constrained_columns"]) == (
        "pk_pm_readings",
        ["robot_id", "timestamp_recorded"],
    )
    assert drift(engine) == []


def test_a_database_made_by_main_upgrades_with_nothing_lost(empty_url: str) -> None:
    """Its readings table was ``pm_dashboard``, laid out as a user's may be: it is left as it
    is, and ``db upgrade`` says how to read it as a source."""
    engine = open_engine(empty_url)
    fill_main_database(engine)
    before = {name: snapshot(engine, name) for name in main_schema.metadata.tables}
    before["pm_dashboard"] = snapshot(engine, "pm_dashboard")
    assert len(before["pm_dashboard"][1]) == 300
    assert left_alone_notice(engine) is not None
    assert upgrade_store(engine) == (None, head_revision())
    assert table_names(engine) == OUR_TABLES | {"pm_alembic_version", "pm_dashboard"}
    for name, rows in before.items():
        assert kept_columns(snapshot(engine, name), rows[0]) == rows, name
    assert snapshot(engine, "pm_dashboard") == before["pm_dashboard"]
    assert snapshot(engine, "pm_readings")[1] == []
    assert "PM_SOURCE_TABLE=pm_dashboard" in str(left_alone_notice(engine))
    assert drift(engine) == []  # adopted tables are exactly what a fresh upgrade makes
    # Events stored before the lifecycle are resolved as of when they were stored.
    events = pd.read_sql("SELECT * FROM pm_events", engine)
    assert len(events) and (events["status"] == "resolved").all()
    assert (events["resolved_at"] == events["created_at"]).all()


def test_the_baseline_creates_what_an_older_main_never_made(empty_url: str) -> None:
    engine = open_engine(empty_url)
    fill_main_database(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE pm_model_activations"))
        connection.execute(sa.text("DROP INDEX ix_pm_events_source"))
    events = snapshot(engine, "pm_events")
    upgrade_store(engine)
    assert drift(engine) == []
    assert kept_columns(snapshot(engine, "pm_events"), events[0]) == events


def test_upgrading_again_changes_nothing(empty_url: str) -> None:
    engine = open_engine(empty_url)
    fill_main_database(engine)
    upgrade_store(engine)
    sums = {name: checksum(engine, name) for name in OUR_TABLES | {"pm_alembic_version"}}
    assert upgrade_store(engine) == (head_revision(), head_revision())
    assert {name: checksum(engine, name) for name in sums} == sums


SHAPES = {
    "no_robot_id": ("id INTEGER PRIMARY KEY",),
    "robot_id_and_id_key": ("id INTEGER PRIMARY KEY", "robot_id VARCHAR(64)"),
    # Exactly the layout of our readings table before Alembic: nothing in it says whose it is.
    "robot_id_and_time_key": ("robot_id VARCHAR(64) NOT NULL",),
}


def _users_dashboard(engine: sa.Engine, shape: str) -> None:
    """The notebook's wide table in one of :data:`SHAPES`: a time and eight axes."""
    keyed_by_time = shape == "robot_id_and_time_key"
    columns = ", ".join(
        [
            *SHAPES[shape],
            "timestamp_recorded TIMESTAMP NOT NULL",
            *(f"{axis} DOUBLE PRECISION" for axis in main_schema.AXES),
            *(["PRIMARY KEY (robot_id, timestamp_recorded)"] if keyed_by_time else []),
        ]
    )
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE TABLE pm_dashboard ({columns})"))
        for n in range(20):
            connection.execute(
                sa.text(
                    "INSERT INTO pm_dashboard (id, timestamp_recorded, axis_1, axis_8) "
                    "VALUES (:n, :t, :a, NULL)"
                    if not keyed_by_time
                    else "INSERT INTO pm_dashboard (robot_id, timestamp_recorded, axis_1) "
                    "VALUES ('r01', :t, :a)"
                ),
                {"n": n, "t": f"2026-01-05 06:00:{n:02d}", "a": n / 3},
            )


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_users_pm_dashboard_is_never_touched(empty_url: str, shape: str) -> None:
    engine = open_engine(empty_url)
    _users_dashboard(engine, shape)
    before = checksum(engine, "pm_dashboard")
    upgrade_store(engine)
    assert checksum(engine, "pm_dashboard") == before
    assert table_names(engine) == OUR_TABLES | {"pm_alembic_version", "pm_dashboard"}
    assert snapshot(engine, "pm_readings")[1] == []
    assert drift(engine) == []


def test_downgrading_keeps_the_readings_and_the_users_table(empty_url: str) -> None:
    engine = open_engine(empty_url)
    fill_main_database(engine)
    theirs = snapshot(engine, "pm_dashboard")
    upgrade_store(engine)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO pm_readings (robot_id, timestamp_recorded, axis_1) VALUES "
                    "('robot-1', '2026-02-01 00:00:00', 1.5)")
        )  # fmt: skip
    ours = snapshot(engine, "pm_readings")
    with engine.begin() as connection:
        command.downgrade(store_config(connection), "0001_baseline")
    assert snapshot(engine, "pm_dashboard") == theirs
    downgraded = snapshot(engine, "pm_readings")
    assert kept_columns(ours, downgraded[0]) == downgraded
    upgrade_store(engine)
    assert kept_columns(snapshot(engine, "pm_readings"), ours[0]) == ours
    assert snapshot(engine, "pm_dashboard") == theirs


def test_simultaneous_upgrades_take_turns(empty_url: str) -> None:
    engines = [open_engine(empty_url) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[tuple] = []
    errors: list[BaseException] = []

    def upgrade(engine: sa.Engine) -> None:
        start.wait()
        try:
            results.append(upgrade_store(engine))
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=upgrade, args=(e,), daemon=True) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    head = head_revision()
    assert sorted(results, key=lambda result: result[0] or "") == [(None, head), (head, head)]
    assert drift(engines[0]) == []


def test_drift_is_seen_when_schema_py_changes(sqlite_url: str) -> None:
    # The check above would fail on a table or column added to schema.py without a revision.
    changed = store_metadata()
    changed.tables["pm_events"].append_column(sa.Column("acknowledged_by", sa.String(64)))
    sa.Table("pm_notifications", changed, sa.Column("id", sa.Integer, primary_key=True))
    kinds = sorted(str(diff[0]) for diff in drift(open_engine(sqlite_url), changed))
    assert kinds == ["add_column", "add_table"]


def test_a_store_newer_than_this_code_is_refused(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'future.db'}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE pm_alembic_version (version_num VARCHAR(32))"))
        connection.execute(sa.text("INSERT INTO pm_alembic_version VALUES ('0099_future')"))
    for attempt in (lambda: ensure_store(engine, embedded=True), lambda: upgrade_store(engine)):
        with pytest.raises(PipelineError, match=r"'0099_future'.*update pm_pipeline"):
            attempt()


def test_todays_readings_upgrade_to_months_with_every_row_and_grant(empty_url: str) -> None:
    """A store of the revision before ours, with readings of several years (and the context
    columns an earlier revision added), becomes partitioned with every row, its grants and
    rollups of its rows."""
    engine = open_engine(empty_url)
    upgrade_store(engine, "0007_labels_and_maintenance")
    postgres = engine.dialect.name == "postgresql"
    reader = f"pm_reader_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        for n, day in enumerate(("2022-03-31 23:59:58", "2022-04-01 00:00:01", "2026-01-05")):
            connection.execute(
                sa.text(
                    "INSERT INTO pm_readings (robot_id, timestamp_recorded, axis_1, context_1) "
                    "VALUES ('r1', :t, :a, :c)"
                ),
                {"t": day, "a": n + 0.5, "c": n * 10.0},
            )
        if postgres:
            connection.execute(sa.text(f"CREATE ROLE {reader}"))
            connection.execute(sa.text(f"GRANT SELECT ON pm_readings TO {reader}"))
    before = snapshot(engine, "pm_readings")
    try:
        upgrade_store(engine)
        assert snapshot(engine, "pm_readings") == before
        with engine.connect() as connection:
            assert is_partitioned(connection, "pm_readings") == postgres
            key = sa.inspect(connection).get_pk_constraint("pm_readings")
            rollups = connection.execute(
                sa.text("SELECT readings, axis_1_mean FROM pm_readings_minute ORDER BY minute")
            ).all()
            if postgres:
                months = [f"{p.start:%Y-%m}" for p in month_partitions(connection, "pm_readings")]
                assert {"2022-03", "2022-04", "2026-01"} <= set(months)
                may_read = f"SELECT has_table_privilege('{reader}', 'pm_readings', 'SELECT')"
                assert connection.execute(sa.text(may_read)).scalar() is True
        assert (key["name"], key["constrained_columns"]) == (
            "pk_pm_readings",
            ["robot_id", "timestamp_recorded"],
        )
        assert [tuple(row) for row in rollups] == [(1, 0.5), (1, 1.5), (1, 2.5)]
    finally:
        if postgres:
            with engine.begin() as connection:
                connection.execute(sa.text(f"REVOKE ALL ON pm_readings FROM {reader}"))
                connection.execute(sa.text(f"DROP ROLE {reader}"))


def test_the_axis_models_stored_copies_go_and_other_values_stay(empty_url: str) -> None:
    """The model lives once, in the registry: 0009 deletes the pickles earlier versions
    stored per axis-model asset, and keeps every other step's value."""
    engine = open_engine(empty_url)
    upgrade_store(engine, "0008_partitioned_readings")
    for key in ("axis_models/axis_1", "axis_models/axis_8", "minmax_scaler", "thresholds/axis_1"):
        store_asset_value(engine, key, "robot-1", {"stored as": key}, "run-1")
    upgrade_store(engine)
    with engine.connect() as connection:
        kept = connection.execute(sa.select(asset_values.c.asset_key)).scalars().all()
    assert sorted(kept) == ["minmax_scaler", "thresholds/axis_1"]


def test_labels_given_before_0010_are_kept_with_no_version_and_survive_a_downgrade(
    empty_url: str,
) -> None:
    """0010 records the labelled event's model version and severity; a label given before
    keeps every column it had and holds NULL there, and going back to 0009 keeps it too."""
    engine = open_engine(empty_url)
    upgrade_store(engine, "0009_models_once")
    labelled_at = pd.Timestamp("2026-03-02 10:00")
    row = {
        "event_id": 7,
        "robot_id": "robot-1",
        "axis": "axis_2",
        "event_start": pd.Timestamp("2026-03-01 08:00").to_pydatetime(),
        "event_end": pd.Timestamp("2026-03-01 08:10").to_pydatetime(),
        "label": "false-alarm",
        "note": "door opened",
        "labelled_by": "ann",
        "labelled_at": labelled_at.to_pydatetime(),
    }
    columns = ", ".join(row)
    insert = sa.text(f"INSERT INTO pm_event_labels ({columns}) VALUES (:{', :'.join(row)})")
    with engine.begin() as connection:
        connection.execute(insert, row)
    before = snapshot(engine, "pm_event_labels")
    upgrade_store(engine)
    after = snapshot(engine, "pm_event_labels")
    assert kept_columns(after, before[0]) == before
    [stored] = pd.read_sql("SELECT * FROM pm_event_labels", engine).to_dict("records")
    assert stored["model_version"] is None and stored["severity"] is None
    with engine.begin() as connection:
        command.downgrade(store_config(connection), "0009_models_once")
    assert snapshot(engine, "pm_event_labels") == before
