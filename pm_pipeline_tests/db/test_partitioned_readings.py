"""Readings by month: loads into months with no partition (old backfills too), training-window
reads that scan only the months they need, and rollups that equal a groupby of the readings."""

import numpy as np
import pandas as pd
import sqlalchemy as sa

from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.core.views.history import count_readings_per_hour
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.partitions import DEFAULT_SUFFIX, is_partitioned, month_partitions
from pm_pipeline.db.readings import read_readings, readings_query, stored_robot_ids
from pm_pipeline.db.rollups import read_minute_counts, read_rollups, summarise_rollups
from pm_pipeline.db.schema import readings_table


def readings_at(start: str, count: int, step_s: float = 2.0, seed: int = 0) -> pd.DataFrame:
    """``count`` readings every ``step_s`` seconds from ``start`` (UTC), some values NULL."""
    generator = np.random.default_rng(seed)
    times = pd.date_range(start, periods=count, freq=pd.Timedelta(seconds=step_s), tz="UTC")
    frame = pd.DataFrame({TIME_COLUMN: times.as_unit("us")})
    for number, axis in enumerate(AXES):
        values = generator.normal(2.0 + number, 0.5, count).round(5)
        values[generator.random(count) < 0.05] = np.nan
        frame[axis] = values
    return frame


def partition_months(engine: sa.Engine, parent: str) -> list[str]:
    with engine.connect() as connection:
        return [f"{p.start:%Y-%m}" for p in month_partitions(connection, parent)]


def default_rows(engine: sa.Engine, parent: str) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.text(f"SELECT count(*) FROM {parent}{DEFAULT_SUFFIX}")
        ).scalar_one()


def test_a_backfill_of_months_without_a_partition_is_stored_whole(database_url: str) -> None:
    engine, table = open_engine(database_url), readings_table()
    # A 2022 export across a month's end, then one whose later chunk opens another month.
    across = readings_at("2022-03-31 23:50", 600)
    ingest_readings(engine, table, across, "r1", "2022.csv", "a")
    chunks = [readings_at("2022-01-10", 100), readings_at("2022-06-02", 100, seed=1)]
    ingest_readings(engine, table, iter(chunks), "r1", "chunks.csv", "b")
    expected = pd.concat([chunks[0], across, chunks[1]], ignore_index=True)
    pd.testing.assert_frame_equal(read_readings(engine, table, "r1"), expected)
    with engine.connect() as connection:
        partitioned = is_partitioned(connection, "pm_readings")
    if partitioned:
        assert {"2022-01", "2022-03", "2022-04", "2022-06"} <= set(
            partition_months(engine, "pm_readings")
        )
        assert default_rows(engine, "pm_readings") == 0  # the June chunk was settled
        assert default_rows(engine, "pm_readings_minute") == 0


def test_a_new_export_across_months_goes_into_each_month_s_partition_once(
    postgres_url: str,
) -> None:
    """A new export over three months with no partition yet, in chunks that cross the months'
    ends: each month's rows are copied into its partition, made first, and none into the
    default partition to be moved after (Postgres counts the transaction's own writes)."""
    engine, table = open_engine(postgres_url), readings_table()
    export = readings_at("2021-01-31 22:00", 4_300, step_s=600.0)
    chunks = [export.iloc[start : start + 1_500] for start in range(0, len(export), 1_500)]
    with engine.begin() as connection:
        ingest_readings(connection, table, iter(chunks), "r1", "new.csv", "a")
        writes = connection.execute(
            sa.text(
                "SELECT relname, n_tup_ins + n_tup_del FROM pg_stat_xact_user_tables "
                "WHERE relname LIKE 'pm_readings%' AND relname NOT LIKE 'pm_readings_minute%'"
            )
        ).all()
    written = dict(writes)
    assert written.get(f"pm_readings{DEFAULT_SUFFIX}", 0) == 0, written
    assert sum(written.values()) == len(export), written
    assert {"2021-01", "2021-02", "2021-03"} <= set(partition_months(engine, "pm_readings"))
    pd.testing.assert_frame_equal(read_readings(engine, table, "r1"), export)


def explained(engine: sa.Engine, query: sa.Select) -> str:
    with engine.connect() as connection:
        compiled = query.compile(dialect=connection.dialect)
        plan = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars()
        return "\n".join(plan)


def test_a_training_window_scans_only_its_months(postgres_url: str) -> None:
    engine, table = open_engine(postgres_url), readings_table()
    for month in ("2026-01", "2026-02", "2026-03", "2026-04"):
        ingest_readings(engine, table, readings_at(f"{month}-10", 50), "r1", f"{month}.csv", month)
    window = readings_query(engine, table, "r1", "2026-02-20T00:00:00Z", "2026-03-12T00:00:00Z")
    plan = explained(engine, window)
    assert "pm_readings_p2026_02" in plan and "pm_readings_p2026_03" in plan, plan
    for other in ("p2026_01", "p2026_04", "default"):
        assert f"pm_readings_{other}" not in plan, plan
    # The newest readings of a robot, with no bounds, read every month (and say so).
    assert "pm_readings_p2026_01" in explained(engine, readings_query(engine, table, "r1"))


def groupby_rollups(readings: pd.DataFrame) -> pd.DataFrame:
    """The rollups computed in pandas: count, mean, min, max per axis and minute."""
    minute = readings[TIME_COLUMN].dt.floor("min").rename("minute")
    grouped = readings.groupby(minute)
    columns = {"readings": grouped.size()}
    for axis in AXES:
        values = grouped[axis]
        for statistic in ("count", "mean", "min", "max"):
            columns[f"{axis}_{statistic}"] = values.agg(statistic)
    return pd.DataFrame(columns).reset_index()


def test_rollups_equal_a_groupby_of_the_readings(database_url: str) -> None:
    engine, table = open_engine(database_url), readings_table()
    day = readings_at("2026-01-31 23:00", 3000, step_s=1.7)
    # Two files whose seam splits a minute, an overlap, and another robot beside them.
    ingest_readings(engine, table, day.iloc[:1000], "r1", "a.csv", "a")
    ingest_readings(engine, table, day.iloc[900:], "r1", "b.csv", "b")
    ingest_readings(engine, table, day.iloc[:50], "r2", "c.csv", "c")
    rollups = read_rollups(engine, "r1")
    expected = groupby_rollups(read_readings(engine, table, "r1"))
    assert (rollups["robot_id"] == "r1").all()
    got = rollups.drop(columns="robot_id")
    pd.testing.assert_frame_equal(
        got, expected.astype(got.dtypes.to_dict()), check_exact=False, rtol=1e-9
    )
    assert len(read_rollups(engine, "r2")) == 2


def test_the_history_of_the_rollups_is_the_history_of_the_readings(database_url: str) -> None:
    engine, table = open_engine(database_url), readings_table()
    for n, month in enumerate(("2025-11", "2026-01")):
        frame = readings_at(f"{month}-03", 500, seed=n)
        ingest_readings(engine, table, frame, "r1", month, month)
    readings = read_readings(engine, table, "r1")
    summary = summarise_rollups(engine, "r1").set_index("axis").to_dict("index")
    for axis in AXES:
        values = readings[axis].dropna()
        got = summary[axis]
        assert got["readings"] == len(values)
        assert (got["min_A"], got["max_A"]) == (values.min(), values.max())
        assert np.isclose(float(got["mean_A"]), float(values.mean()), rtol=1e-12)
    counts = read_minute_counts(engine, "r1")
    assert counts["readings"].sum() == len(readings)
    per_hour = count_readings_per_hour(counts)
    expected = readings[TIME_COLUMN].dt.floor("h").value_counts().sort_index()
    assert per_hour.to_dict() == expected.to_dict()
    assert summarise_rollups(engine, "nobody")["readings"].tolist() == [0] * len(AXES)


def test_stored_robots_are_found_in_every_month(database_url: str) -> None:
    engine, table = open_engine(database_url), readings_table()
    assert stored_robot_ids(engine, table) == []
    for robot, month in (
        ("r2", "2026-01"),
        ("r10", "2026-03"),
        ("r1", "2026-01"),
        ("r2", "2026-03"),
    ):
        ingest_readings(engine, table, readings_at(f"{month}-05", 20), robot, month, month)
    assert stored_robot_ids(engine, table) == ["r1", "r10", "r2"]
