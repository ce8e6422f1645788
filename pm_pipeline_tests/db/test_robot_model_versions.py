"""A model version belongs to its robot: the registry is keyed by robot and version, and the
events and activations that name a version name it with their robot. A store at the 0004
layout upgrades with every row kept, and two robots may then hold the same version."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.migrate import head_revision, upgrade_store
from pm_pipeline_tests.db.migration_helpers import drift, kept_columns, snapshot

START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
TABLES = ("pm_model_registry", "pm_model_activations", "pm_events")


def fill_0004(engine: sa.Engine) -> None:
    """Two robots' versions, their activations and events, as the 0004 layout stores them."""
    registry = [
        {"model_version": f"v{n}", "robot_id": robot, "created_at": START + timedelta(hours=n),
         "window_start": START, "window_end": START + timedelta(hours=1), "row_count": 100 + n,
         "metrics_json": "{}", "model_json": '{"axes": {}}', "run_id": f"run-{n}",
         "is_active": n in (1, 2), "checks_json": None}
        for n, robot in enumerate(("r01", "r01", "r02"))
    ]  # fmt: skip
    activations = [
        {"robot_id": robot, "model_version": version, "activated_at": START + timedelta(hours=n),
         "reason": "passed its checks", "run_id": None}
        for n, (robot, version) in enumerate((("r01", "v0"), ("r01", "v1"), ("r02", "v2")))
    ]  # fmt: skip
    events = [
        {"robot_id": robot, "axis": "axis_1", "severity": "ALERT", "start_ts": START,
         "end_ts": START + timedelta(minutes=1), "duration_s": 60.0, "z_mean": 3.0,
         "z_peak": 4.0, "p_value": 1e-4, "n_samples": 30, "model_version": version,
         "source": "landed.csv", "run_id": "run-9", "created_at": START, "status": "open",
         "resolved_at": None}
        for robot, version in (("r01", "v1"), ("r02", "v2"), ("r02", "v2"))
    ]  # fmt: skip
    meta = sa.MetaData()
    with engine.begin() as connection:
        for name, rows in zip(TABLES, (registry, activations, events), strict=True):
            table = sa.Table(name, meta, autoload_with=connection)
            connection.execute(table.insert(), rows)


@pytest.fixture
def at_0004(empty_url: str) -> sa.Engine:
    engine = open_engine(empty_url)
    upgrade_store(engine, "0004_event_lifecycle")
    fill_0004(engine)
    return engine


def test_a_0004_store_upgrades_with_every_row_kept(at_0004: sa.Engine) -> None:
    before = {name: snapshot(at_0004, name) for name in TABLES}
    assert upgrade_store(at_0004) == ("0004_event_lifecycle", head_revision())
    after = {name: snapshot(at_0004, name) for name in TABLES}
    # later revisions may add columns; every column and row of 0004 stays as it was
    assert {name: kept_columns(after[name], before[name][0]) for name in TABLES} == before
    assert drift(at_0004) == []
    with at_0004.connect() as connection:
        inspector = sa.inspect(connection)
        key = inspector.get_pk_constraint("pm_model_registry")["constrained_columns"]
        references = {
            name: [fk["constrained_columns"] for fk in inspector.get_foreign_keys(name)]
            for name in ("pm_model_activations", "pm_events")
        }
    assert sorted(key) == ["model_version", "robot_id"]
    assert all(sorted(columns) == ["model_version", "robot_id"]
               for found in references.values() for columns in found)  # fmt: skip


def test_after_the_upgrade_two_robots_may_hold_one_version(at_0004: sa.Engine) -> None:
    upgrade_store(at_0004)
    registry = sa.Table("pm_model_registry", sa.MetaData(), autoload_with=at_0004)
    events = sa.Table("pm_events", sa.MetaData(), autoload_with=at_0004)
    with at_0004.begin() as connection:
        row = connection.execute(sa.select(registry).where(registry.c.model_version == "v2"))
        copy = dict(row.mappings().one()) | {"robot_id": "r01"}
        connection.execute(registry.insert(), [copy])
    # An event may name a version only with the robot that holds it.
    with pytest.raises(IntegrityError), at_0004.begin() as connection:
        stray = connection.execute(sa.select(events).limit(1)).mappings().one()
        stray = {k: v for k, v in stray.items() if k != "event_id"}
        connection.execute(events.insert(), [stray | {"robot_id": "r03"}])
