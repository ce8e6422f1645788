"""The whole graph with readings on Postgres and Dagster's storage on Postgres, configured by
the repo's own dagster.yaml, verified with SQL in both databases."""

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import psycopg2
import pytest
import sqlalchemy as sa

from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.defs import instance as instance_module
from pm_pipeline.defs.assets import TRAINING_ASSETS
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline_tests.conftest import PROJECT_ROOT, worn_slice
from pm_pipeline_tests.partitioned import ROBOT, materialize_robot, score_files
from pm_pipeline_tests.store import upgraded

pytestmark = pytest.mark.usefixtures("plumbing_mode")  # any detector will do


def test_graph_on_postgres_readings_and_postgres_instance(
    tmp_path: Path,
    postgres_schema_url: Callable[[], str],
    robot_day: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    readings_url, dagster_url = upgraded(postgres_schema_url()), postgres_schema_url()
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    database = ReadingsDatabaseResource(url=readings_url)
    split = robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=6)
    ingest_readings(
        database.engine(),
        database.table(),
        robot_day[robot_day[TIME_COLUMN] < split],
        ROBOT,
        "history",
        "h",
    )
    landed = tmp_path / "landed.csv"
    write_export(worn_slice(robot_day, after_hours=6), landed)
    resources = pipeline_resources(database)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        trained = materialize_robot(TRAINING_ASSETS, resources=resources, instance=instance)
        scored = score_files(instance, [landed], resources, raise_on_error=True)
        assert trained.success and scored.success

    with sa.create_engine(dagster_url).connect() as dagster_db:
        runs = dict(dagster_db.execute(sa.text("SELECT run_id, status FROM runs")).all())
        materialized = dagster_db.execute(
            sa.text(
                "SELECT count(*) FROM event_logs "
                "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND run_id = :run"
            ),
            {"run": trained.run_id},
        ).scalar()
    assert runs == {trained.run_id: "SUCCESS", scored.run_id: "SUCCESS"}
    assert materialized == 20  # raw_readings, scaler, 8 models, 8 thresholds, 2 synthetic

    with sa.create_engine(readings_url).connect() as readings_db:
        version, registry_run, active = readings_db.execute(
            sa.text("SELECT model_version, run_id, is_active FROM pm_model_registry")
        ).one()
        events = readings_db.execute(
            sa.text(
                "SELECT source, model_version, run_id, count(*) FROM pm_events "
                "GROUP BY source, model_version, run_id ORDER BY source"
            )
        ).all()
    assert registry_run == trained.run_id and active
    assert [tuple(row)[:3] for row in events] == [
        ("landed.csv", version, scored.run_id),
        (f"synthetic:{version}", version, trained.run_id),
    ]
    assert all(row[3] > 0 for row in events)


def production_home(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME holding the repo's dagster.yaml, its storage at ``url``."""
    monkeypatch.setenv("DAGSTER_PG_URL", url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def connections_opened(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every psycopg2 connection opened from now on, in order."""
    opened: list[Any] = []
    real_connect = psycopg2.connect

    def recorded_connect(*args: Any, **kwargs: Any) -> Any:
        opened.append(real_connect(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(psycopg2, "connect", recorded_connect)
    return opened


def test_dagster_storage_on_postgres_keeps_its_connections_open(
    tmp_path: Path, postgres_schema_url: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of landed files reads and writes Dagster's storage a dozen times per file;
    dagster-postgres alone would open a connection for each statement."""
    home = production_home(tmp_path, postgres_schema_url(), monkeypatch)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("robots", ["robot-1"])
        opened = connections_opened(monkeypatch)
        for _ in range(20):
            instance.get_runs(limit=1)  # run storage
            instance.fetch_materializations(dg.AssetKey("file_events"), limit=1)  # event log
            instance.get_dynamic_partitions("robots")
            instance.all_instigator_state()  # schedule storage

    assert 0 < len(opened) <= 3  # one per storage, not 80


def test_kept_connections_the_server_dropped_are_replaced_not_failed(
    tmp_path: Path, postgres_schema_url: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that ends idle connections (Neon suspending, a failover) costs a long-lived
    process (the daemon, a run) no failed statement."""
    url = postgres_schema_url()
    home = production_home(tmp_path, url, monkeypatch)
    monkeypatch.setattr(instance_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    opened = connections_opened(monkeypatch)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("robots", ["robot-1"])
        instance.get_runs(limit=1)
        instance.fetch_materializations(dg.AssetKey("file_events"), limit=1)
        dropped = [c.get_backend_pid() for c in opened if not c.closed]
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for pid in dropped:
                connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
        assert len(dropped) >= 2
        assert instance.get_runs(limit=1) == []
        assert instance.get_dynamic_partitions("robots") == ["robot-1"]
        assert not instance.fetch_materializations(dg.AssetKey("file_events"), limit=1).records
