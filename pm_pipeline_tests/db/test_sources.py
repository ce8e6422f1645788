"""The user's own tables, read as they are by a role that may only SELECT them, and left
exactly as they were: the wide layout with and without id/robot columns, with and without a
time zone, and the long layout whose axes table lists six of eight axes."""

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.sources import LongSource, WideSource, read_source
from pm_pipeline_tests.conftest import LOCAL_TEST_URL, TEST_URL_VARIABLE

LISTED = ("axis_1", "axis_2", "axis_3", "axis_5", "axis_6", "axis_8")


@dataclass
class SourceServer:
    """A schema of source tables written by an owner, and a role that may only read them."""

    admin: sa.Engine
    base_url: str
    schema: str
    reader: str

    def run(self, *statements: str) -> None:
        with self.admin.begin() as connection:
            connection.execute(sa.text(f'SET search_path TO "{self.schema}"'))
            for statement in statements:
                connection.execute(sa.text(statement))

    def grant_select(self, table: str) -> None:
        self.run(f'GRANT SELECT ON "{self.schema}"."{table}" TO "{self.reader}"')

    def reader_engine(self) -> sa.Engine:
        host = self.base_url.split("@", 1)[1]
        return open_engine(
            f"postgresql://{self.reader}@{host}?options=-csearch_path%3D{self.schema}"
        )

    def fingerprint(self, table: str) -> tuple[str, list[str]]:
        """A checksum of every row, and the column list, as the owner sees them."""
        with self.admin.connect() as connection:
            digest = connection.execute(
                sa.text(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    f'FROM "{self.schema}"."{table}" t'
                )
            ).scalar_one()
            columns = (
                connection.execute(
                    sa.text(
                        "SELECT column_name || ':' || data_type FROM information_schema.columns "
                        "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position"
                    ),
                    {"s": self.schema, "t": table},
                )
                .scalars()
                .all()
            )
        return digest, list(columns)


@pytest.fixture
def server() -> Iterator[SourceServer]:
    base = os.environ.get(TEST_URL_VARIABLE) or LOCAL_TEST_URL
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg2://", 1))
    token = uuid.uuid4().hex[:10]
    site = SourceServer(admin, base, f"src_{token}", f"reader_{token}")
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{site.schema}"'))
        connection.execute(sa.text(f'CREATE ROLE "{site.reader}" LOGIN'))
        connection.execute(sa.text(f'GRANT USAGE ON SCHEMA "{site.schema}" TO "{site.reader}"'))
        # A session time zone other than UTC: a time without a zone must still read as UTC.
        connection.execute(
            sa.text(f"ALTER ROLE \"{site.reader}\" SET timezone = 'America/Toronto'")
        )
    yield site
    with admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{site.schema}" CASCADE'))
        connection.execute(sa.text(f'DROP OWNED BY "{site.reader}"'))
        connection.execute(sa.text(f'DROP ROLE "{site.reader}"'))
    admin.dispose()


@pytest.fixture
def readings(robot_day: pd.DataFrame) -> pd.DataFrame:
    """Two hours of readings with some blanks ("no load")."""
    frame = robot_day.iloc[:3800].reset_index(drop=True).copy()
    frame.loc[::7, "axis_4"] = np.nan
    return frame


def load(server: SourceServer, table: str, frame: pd.DataFrame) -> None:
    with server.admin.begin() as connection:
        frame.to_sql(table, connection, schema=server.schema, if_exists="append", index=False)


def create_wide(server: SourceServer, with_id: bool, robot: bool, zone: bool) -> str:
    time_type = "timestamptz" if zone else "timestamp"
    columns = [
        *(["id serial PRIMARY KEY"] if with_id else []),
        *(["robot_id text NOT NULL"] if robot else []),
        f"timestamp_recorded {time_type} NOT NULL",
        *(f"{axis} double precision" for axis in AXES),
    ]
    server.run(f"CREATE TABLE pm_dashboard ({', '.join(columns)})")
    return "pm_dashboard"


def wide_rows(readings: pd.DataFrame, zone: bool) -> pd.DataFrame:
    rows = readings.copy()
    if not zone:
        rows[TIME_COLUMN] = rows[TIME_COLUMN].dt.tz_localize(None)
    return rows


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
        load(server, table, pd.concat([rows.assign(robot_id="r1"), other.assign(robot_id="r2")]))
    else:
        load(server, table, rows)
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


def create_long(server: SourceServer, readings: pd.DataFrame) -> None:
    server.run(
        "CREATE TABLE axes (axis_id integer PRIMARY KEY, axis_name text NOT NULL)",
        "CREATE TABLE readings_long (id bigserial PRIMARY KEY, robot text NOT NULL, "
        "recorded_at timestamptz NOT NULL, axis_id integer NOT NULL, current_a real)",
    )
    names = pd.DataFrame(
        {"axis_id": [10 + int(a.split("_")[1]) for a in LISTED], "axis_name": list(LISTED)}
    )
    load(server, "axes", names)
    melted = readings.melt(id_vars=[TIME_COLUMN], value_vars=list(AXES), var_name="axis")
    melted["axis_id"] = 10 + melted["axis"].str.split("_").str[1].astype(int)
    load(
        server,
        "readings_long",
        pd.DataFrame(
            {
                "robot": "r1",
                "recorded_at": melted[TIME_COLUMN],
                "axis_id": melted["axis_id"],
                "current_a": melted["value"],
            }
        ),
    )
    for table in ("axes", "readings_long"):
        server.grant_select(table)


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
