"""The user's own tables, read as they are by a role that may only SELECT them, and left
exactly as they were: the wide layout with and without id/robot columns, with and without a
time zone, and the long layout whose axes table lists six of eight axes."""

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pytest

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.db.sources import LongSource, WideSource, read_source
from pm_pipeline_tests.source_tables import (
    LISTED,
    SourceServer,
    create_long,
    create_wide,
    source_server,
    wide_rows,
)


@pytest.fixture
def server() -> Iterator[SourceServer]:
    with source_server() as site:
        yield site


@pytest.fixture
def readings(robot_day: pd.DataFrame) -> pd.DataFrame:
    """Two hours of readings with some blanks ("no load")."""
    frame = robot_day.iloc[:3800].reset_index(drop=True).copy()
    frame.loc[::7, "axis_4"] = np.nan
    return frame


def assert_same_readings(read: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(read.columns) == [TIME_COLUMN, *AXES]
    assert (read[TIME_COLUMN].to_numpy() == expected[TIME_COLUMN].dt.as_unit("us").to_numpy()).all()
    for axis in AXES:
        np.testing.assert_allclose(
            read[axis].to_numpy(), expected[axis].to_numpy(dtype="float64"), equal_nan=True
        )


@pytest.mark.parametrize(
    ("with_id", "robot", "zone"),
    [(True, False, True), (False, False, False), (True, True, False), (False, True, True)],
    ids=["id-tz", "bare-naive", "id-robot-naive", "robot-tz"],
)
def test_wide_table_reads_as_is_under_a_select_only_role(
    server: SourceServer, readings: pd.DataFrame, with_id: bool, robot: bool, zone: bool
) -> None:
    table = create_wide(server, with_id, robot, zone)
    rows = wide_rows(readings, zone)
    if robot:
        other = rows.assign(**{axis: 99.0 for axis in AXES})
        server.load(table, pd.concat([rows.assign(robot_id="r1"), other.assign(robot_id="r2")]))
    else:
        server.load(table, rows)
    server.grant_select(table)
    before = server.fingerprint(table)
    source = WideSource(table, robot_column="robot_id" if robot else None)
    engine = server.reader_engine()

    read = read_source(engine, source, "r1")
    assert_same_readings(read, readings)
    middle = readings[TIME_COLUMN].iloc[1000]
    newer = read_source(engine, source, "r1", after=middle)
    assert newer[TIME_COLUMN].iloc[0] == readings[TIME_COLUMN].iloc[1001]
    assert len(newer) == len(readings) - 1001
    assert server.fingerprint(table) == before


def test_long_table_pivots_only_the_listed_axes(
    server: SourceServer, readings: pd.DataFrame
) -> None:
    create_long(server, readings)
    before = [server.fingerprint(t) for t in ("axes", "readings_long")]
    source = LongSource(
        "readings_long",
        axes_table="axes",
        time_column="recorded_at",
        current_column="current_a",
        axes_name_column="axis_name",
        robot_column="robot",
    )
    read = read_source(server.reader_engine(), source, "r1")
    expected = readings.astype({axis: "float32" for axis in AXES}).astype(
        {axis: "float64" for axis in AXES}
    )
    for axis in set(AXES) - set(LISTED):
        expected[axis] = np.nan  # not listed in the axes table: never read
    assert_same_readings(read, expected)
    assert [server.fingerprint(t) for t in ("axes", "readings_long")] == before


def error_of(call: Callable[[], object]) -> str:
    with pytest.raises(PipelineError) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_mistakes_name_the_table_column_or_grant(
    server: SourceServer, readings: pd.DataFrame
) -> None:
    table = create_wide(server, with_id=True, robot=False, zone=True)
    server.run("CREATE TABLE texty (timestamp_recorded text, axis_1 real)")
    engine = server.reader_engine()
    missing = error_of(lambda: read_source(engine, WideSource("nowhere"), "r1"))
    assert "'nowhere' does not exist" in missing and "PM_SOURCE_TABLE" in missing
    denied = error_of(lambda: read_source(engine, WideSource(table), "r1"))
    assert f"GRANT SELECT ON {table} TO {server.reader}" in denied
    server.grant_select(table)
    column = error_of(lambda: read_source(engine, WideSource(table, time_column="ts"), "r1"))
    assert "no column 'ts'" in column and "PM_SOURCE_TIME_COLUMN" in column
    assert "timestamp_recorded" in column
    server.grant_select("texty")
    texty = WideSource("texty", axis_columns={"axis_1": "axis_1"})
    not_time = error_of(lambda: read_source(engine, texty, "r1"))
    assert "not a time" in not_time and "'timestamp_recorded'" in not_time
    bad_name = error_of(lambda: read_source(engine, WideSource("pm; DROP TABLE x"), "r1"))
    assert "not a valid identifier" in bad_name
