"""Copying the user's own readings into the store by a per-robot high-water mark: the first
copy reads only the training window, a later one only what is new (or an older stretch the
window now wants), a reading already stored wins, and the source is never written. Every
source is read by a role with SELECT only on it."""

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.readings import read_readings
from pm_pipeline.db.schema import ingested_files, readings_table
from pm_pipeline.db.sources import LongSource, SourceError, WideSource
from pm_pipeline.services.sources import (
    configured_source,
    sync_configured_source,
    sync_source,
)
from pm_pipeline.services.training import TrainingWindow
from pm_pipeline_tests.source_tables import SourceServer, create_wide, source_server

ROBOT = "robot-1"


@pytest.fixture
def server() -> Iterator[SourceServer]:
    with source_server() as site:
        yield site


@pytest.fixture
def three_hours(robot_day: pd.DataFrame) -> pd.DataFrame:
    start = robot_day[TIME_COLUMN].iloc[0]
    return robot_day[robot_day[TIME_COLUMN] < start + pd.Timedelta(hours=3)].reset_index(drop=True)


def stored(engine: sa.Engine) -> pd.DataFrame:
    return read_readings(engine, readings_table(), ROBOT)


def test_the_first_copy_reads_the_window_and_later_ones_only_what_is_new(
    server: SourceServer, postgres_url: str, three_hours: pd.DataFrame
) -> None:
    table = create_wide(server, with_id=True, robot=False, zone=False)
    times = three_hours[TIME_COLUMN]
    first_part = three_hours[times < times.iloc[0] + pd.Timedelta(hours=2)]
    server.load(
        table, first_part.assign(**{TIME_COLUMN: first_part[TIME_COLUMN].dt.tz_localize(None)})
    )
    server.grant_select(table)
    before_rows = server.fingerprint(table)
    source, reader, store = WideSource(table), server.reader_engine(), open_engine(postgres_url)
    # A landed file already holds one reading the source also has: the stored one wins.
    clash = first_part.iloc[[-5]].assign(**{axis: 42.0 for axis in AXES})
    ingest_readings(store, readings_table(), clash, ROBOT, "landed.csv", "sha")

    since = first_part[TIME_COLUMN].iloc[-1] - pd.Timedelta(hours=1)
    first = sync_source(reader, source, store, readings_table(), ROBOT, since)
    window = first_part[first_part[TIME_COLUMN] >= since]
    assert (first.rows_read, first.rows_added) == (len(window), len(window) - 1)
    assert first.mark == first_part[TIME_COLUMN].iloc[-1]
    kept = stored(store)
    assert kept[TIME_COLUMN].min() == window[TIME_COLUMN].min()
    at_clash = kept[kept[TIME_COLUMN] == clash[TIME_COLUMN].iloc[0]]
    assert at_clash["axis_1"].tolist() == [42.0]
    assert server.fingerprint(table) == before_rows

    newer = three_hours[times >= times.iloc[0] + pd.Timedelta(hours=2)]
    server.load(table, newer.assign(**{TIME_COLUMN: newer[TIME_COLUMN].dt.tz_localize(None)}))
    second = sync_source(reader, source, store, readings_table(), ROBOT, since)
    assert (second.rows_read, second.rows_added) == (len(newer), len(newer))
    assert second.mark == times.iloc[-1]
    third = sync_source(reader, source, store, readings_table(), ROBOT, since)
    assert (third.rows_read, third.rows_added, third.mark) == (0, 0, times.iloc[-1])

    # A window reaching further back reads only the stretch not copied yet, once.
    older = first_part[first_part[TIME_COLUMN] < since]
    back = sync_source(reader, source, store, readings_table(), ROBOT, times.iloc[0])
    assert (back.rows_read, back.rows_added, back.mark) == (len(older), len(older), times.iloc[-1])
    again = sync_source(reader, source, store, readings_table(), ROBOT, times.iloc[0])
    assert again.rows_read == 0
    assert len(stored(store)) == len(three_hours)
    with store.connect() as connection:
        records = connection.execute(
            sa.select(ingested_files.c.file_name, ingested_files.c.rows_in_file).order_by(
                ingested_files.c.ingest_id
            )
        ).all()
    assert records == [
        ("landed.csv", 1),
        ("source:pm_dashboard", len(window)),
        ("source:pm_dashboard", len(newer)),
        ("source:pm_dashboard", len(older)),
    ]


def test_the_configured_source_syncs_from_the_settings(
    server: SourceServer, postgres_url: str, three_hours: pd.DataFrame
) -> None:
    table = create_wide(server, with_id=False, robot=True, zone=True)
    other = three_hours.assign(**{axis: 99.0 for axis in AXES}, robot_id="robot-2")
    server.load(table, pd.concat([three_hours.assign(robot_id=ROBOT), other]))
    server.grant_select(table)
    settings = load_settings(
        {
            "PM_SOURCE_LAYOUT": "wide",
            "PM_SOURCE_URL": server.reader_url(search_path=False),
            "PM_SOURCE_TABLE": f"{server.schema}.{table}",
            "PM_SOURCE_ROBOT_COLUMN": "robot_id",
            "PM_TRAINING_DAYS": str(1 / 24),
        }
    )
    store = open_engine(postgres_url)
    synced = sync_configured_source(
        settings, store, postgres_url, readings_table(), ROBOT, TrainingWindow()
    )
    assert synced is not None
    hour = three_hours[
        three_hours[TIME_COLUMN] >= three_hours[TIME_COLUMN].iloc[-1] - pd.Timedelta(hours=1)
    ]
    assert (synced.rows_read, synced.rows_added) == (len(hour), len(hour))
    assert synced.source.startswith(f"postgresql+psycopg2://{server.reader}@")
    assert synced.source.endswith(f"table {server.schema}.{table}")
    copied = stored(store)
    assert copied[TIME_COLUMN].tolist() == hour[TIME_COLUMN].tolist()
    assert np.nanmax(copied[list(AXES)].to_numpy()) < 99.0  # robot-2's rows stay out
    # The run's own window wins over PM_TRAINING_DAYS, and only the older stretch is read.
    wider = sync_configured_source(
        settings, store, postgres_url, readings_table(), ROBOT, TrainingWindow(last_days=2 / 24)
    )
    assert wider is not None and wider.rows_read == wider.rows_added > 0
    none = load_settings({})
    assert (
        sync_configured_source(none, store, postgres_url, readings_table(), ROBOT, TrainingWindow())
        is None
    )


def test_the_store_s_own_table_is_refused_as_a_source(
    postgres_url: str, robot_day: pd.DataFrame
) -> None:
    store = open_engine(postgres_url)
    ingest_readings(store, readings_table(), robot_day.iloc[:10], ROBOT, "landed.csv", "sha")
    settings = load_settings({"PM_SOURCE_LAYOUT": "wide", "PM_SOURCE_TABLE": "pm_readings"})
    with pytest.raises(SourceError, match="is the pipeline's own readings table"):
        sync_configured_source(
            settings, store, postgres_url, readings_table(), ROBOT, TrainingWindow()
        )
    assert len(stored(store)) == 10


def test_the_settings_build_one_source() -> None:
    wide = configured_source(
        load_settings(
            {
                "PM_SOURCE_LAYOUT": "wide",
                "PM_SOURCE_TABLE": "public.pm_dashboard",
                "PM_AXIS_COUNT": "6",
            }
        )
    )
    assert wide == WideSource(
        "public.pm_dashboard", axis_columns={f"axis_{k}": f"axis_{k}" for k in range(1, 7)}
    )
    mapped = configured_source(
        load_settings(
            {
                "PM_SOURCE_LAYOUT": "wide",
                "PM_SOURCE_TABLE": "readings",
                "PM_SOURCE_TIME_COLUMN": "ts",
                "PM_SOURCE_AXIS_COLUMNS": '{"axis_1": "m1", "axis_3": "m3"}',
            }
        )
    )
    assert mapped == WideSource("readings", "ts", {"axis_1": "m1", "axis_3": "m3"})
    long = configured_source(
        load_settings(
            {
                "PM_SOURCE_LAYOUT": "long",
                "PM_SOURCE_TABLE": "facts",
                "PM_SOURCE_AXES_TABLE": "dims.axes",
                "PM_SOURCE_CURRENT_COLUMN": "amps",
                "PM_SOURCE_AXES_NAME_COLUMN": "name",
                "PM_SOURCE_ROBOT_COLUMN": "robot",
            }
        )
    )
    assert long == LongSource(
        "facts",
        "dims.axes",
        current_column="amps",
        axes_name_column="name",
        robot_column="robot",
    )
    assert configured_source(load_settings({"PM_SOURCE_TABLE": "ignored"})) is None
