"""Retention removes readings past PM_RETENTION_DAYS and nothing newer: whole months on
Postgres, rows on SQLite; rollups stay longer; partitions are made ahead. The command and
the nightly job run the same use case."""

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.cli.app import main
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.partitions import detached_months, is_partitioned, month_partitions
from pm_pipeline.db.readings import read_readings
from pm_pipeline.db.rollups import read_rollups
from pm_pipeline.db.schema import readings_table
from pm_pipeline.defs.resources import ReadingsDatabaseResource, SettingsResource
from pm_pipeline.defs.retention import readings_retention_job
from pm_pipeline.services.retention import RetentionPolicy, retain_readings
from pm_pipeline_tests.db.test_partitioned_readings import readings_at

MONTHS = ("2026-01", "2026-02", "2026-03")


def three_months(engine: sa.Engine) -> None:
    """Readings on the 10th and the 25th of January, February and March 2026."""
    for month in MONTHS:
        for day in ("10", "25"):
            frame = readings_at(f"{month}-{day} 08:00", 100)
            ingest_readings(engine, readings_table(), frame, "r1", f"{month}-{day}", "sha")


def stored_days(engine: sa.Engine) -> list[str]:
    times = read_readings(engine, readings_table(), "r1")["timestamp_recorded"]
    return sorted(set(times.dt.strftime("%Y-%m-%d")))


def partitioned(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        return is_partitioned(connection, "pm_readings")


def test_retention_drops_old_months_and_nothing_newer(database_url: str) -> None:
    engine = open_engine(database_url)
    three_months(engine)
    # The cutoff falls on 1 March: January and February go, all of March stays.
    now = pd.Timestamp("2026-04-20", tz="UTC")
    report = retain_readings(engine, RetentionPolicy(50, None, 2), now)
    assert stored_days(engine) == ["2026-03-10", "2026-03-25"]
    [removed] = report.removed
    if partitioned(engine):
        assert removed.partitions == ("pm_readings_p2026_01", "pm_readings_p2026_02")
        with engine.connect() as connection:
            assert detached_months(connection, "pm_readings") == []  # dropped after the detach
            months = [f"{p.start:%Y-%m}" for p in month_partitions(connection, "pm_readings")]
        # March on, with two months made ahead of April (the upgrade made today's ahead).
        assert months[:4] == ["2026-03", "2026-04", "2026-05", "2026-06"]
    else:
        assert removed.rows == 400
    # Rollups have no retention set: the months whose readings went keep theirs.
    assert read_rollups(engine, "r1")["minute"].min() == pd.Timestamp("2026-01-10 08:00", tz="UTC")


def test_a_cutoff_inside_a_month_keeps_every_newer_reading(database_url: str) -> None:
    engine = open_engine(database_url)
    three_months(engine)
    # The cutoff falls on 20 February: Postgres keeps February whole (it holds the 25th),
    # SQLite deletes its 10th; nothing from the cutoff on goes either way.
    now = pd.Timestamp("2026-02-20", tz="UTC") + pd.Timedelta(days=30)
    retain_readings(engine, RetentionPolicy(30, 40, 0), now)
    kept = stored_days(engine)
    assert kept[-3:] == ["2026-02-25", "2026-03-10", "2026-03-25"]
    assert kept[0] == ("2026-02-10" if partitioned(engine) else "2026-02-25")
    # Rollups past their own cutoff (10 February) go: January's do.
    assert read_rollups(engine, "r1")["minute"].min() >= pd.Timestamp("2026-02-01", tz="UTC")


def test_no_retention_set_removes_nothing(database_url: str) -> None:
    engine = open_engine(database_url)
    three_months(engine)
    report = retain_readings(engine, RetentionPolicy(), pd.Timestamp("2030-01-01", tz="UTC"))
    assert len(stored_days(engine)) == 6 and report.removed == ()
    assert report.lines()[0] == "pm_readings: kept for ever (no retention set)"


def test_the_command_and_the_job_retain(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    engine = open_engine(sqlite_url)
    three_months(engine)  # every reading is years older than today
    monkeypatch.setenv("PM_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("PM_ROLLUP_RETENTION_DAYS", "100000")
    assert main(["db", "retain"]) == 0
    out = capsys.readouterr().out
    assert "pm_readings: kept for ever" in out and "pm_readings_minute: kept from" in out
    assert len(stored_days(engine)) == 6
    monkeypatch.setenv("PM_RETENTION_DAYS", "30")
    resources = {
        "readings_db": ReadingsDatabaseResource(url=sqlite_url),
        "settings": SettingsResource(),
    }
    assert readings_retention_job.execute_in_process(resources=resources).success
    assert stored_days(engine) == []


def test_a_bad_retention_setting_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("PM_RETENTION_DAYS", "a year")
    assert main(["db", "retain"]) == 1
    assert capsys.readouterr().err.startswith("error: PM_RETENTION_DAYS='a year': not a number")


def test_a_month_detached_before_a_crash_is_dropped_by_the_next_run(postgres_url: str) -> None:
    engine = open_engine(postgres_url)
    three_months(engine)
    with engine.begin() as connection:  # as a run that died between its two steps leaves it
        connection.execute(sa.text("ALTER TABLE pm_readings DETACH PARTITION pm_readings_p2026_01"))
        assert detached_months(connection, "pm_readings") == ["pm_readings_p2026_01"]
    retain_readings(engine, RetentionPolicy(), pd.Timestamp("2026-04-20", tz="UTC"))
    with engine.connect() as connection:
        assert detached_months(connection, "pm_readings") == []
        assert not sa.inspect(connection).has_table("pm_readings_p2026_01")
    assert stored_days(engine)[0] == "2026-02-10"
