"""The user's own tables for tests: a schema of them written by an owner, a role that may
only SELECT them, and a fingerprint (row checksum and column list) to show they were left
as they were."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.db.engine import normalise_url, open_engine
from pm_pipeline_tests.conftest import LOCAL_TEST_URL, TEST_URL_VARIABLE

LISTED = ("axis_1", "axis_2", "axis_3", "axis_5", "axis_6", "axis_8")
"""The six of eight axes the long layout's axes table lists."""


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

    def reader_url(self, search_path: bool = True) -> str:
        """The reader's URL; with ``search_path``, unqualified names find the schema."""
        host = self.base_url.split("@", 1)[1].split("?", 1)[0]
        scoped = f"?options=-csearch_path%3D{self.schema}" if search_path else ""
        return f"postgresql://{self.reader}@{host}{scoped}"

    def reader_engine(self) -> sa.Engine:
        return open_engine(self.reader_url())

    def load(self, table: str, frame: pd.DataFrame) -> None:
        with self.admin.begin() as connection:
            frame.to_sql(table, connection, schema=self.schema, if_exists="append", index=False)

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


@contextmanager
def source_server() -> Iterator[SourceServer]:
    """A fresh schema and a login role with USAGE on it (and nothing else), both dropped
    afterwards. The role's session time zone is not UTC, so a time without a zone that still
    reads as UTC is read as UTC on purpose."""
    base = os.environ.get(TEST_URL_VARIABLE) or LOCAL_TEST_URL
    admin = sa.create_engine(normalise_url(base))
    token = uuid.uuid4().hex[:10]
    site = SourceServer(admin, base, f"src_{token}", f"reader_{token}")
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{site.schema}"'))
        connection.execute(sa.text(f'CREATE ROLE "{site.reader}" LOGIN'))
        connection.execute(sa.text(f'GRANT USAGE ON SCHEMA "{site.schema}" TO "{site.reader}"'))
        connection.execute(
            sa.text(f"ALTER ROLE \"{site.reader}\" SET timezone = 'America/Toronto'")
        )
    try:
        yield site
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{site.schema}" CASCADE'))
            connection.execute(sa.text(f'DROP OWNED BY "{site.reader}"'))
            connection.execute(sa.text(f'DROP ROLE "{site.reader}"'))
        admin.dispose()


def create_wide(
    server: SourceServer, with_id: bool, robot: bool, zone: bool, table: str = "pm_dashboard"
) -> str:
    """The notebook's table: an optional ``id``, an optional ``robot_id``, the time column
    (``timestamptz`` with ``zone``, else ``timestamp``) and ``axis_1 … axis_8``."""
    time_type = "timestamptz" if zone else "timestamp"
    columns = [
        *(["id serial PRIMARY KEY"] if with_id else []),
        *(["robot_id text NOT NULL"] if robot else []),
        f"timestamp_recorded {time_type} NOT NULL",
        *(f"{axis} double precision" for axis in AXES),
    ]
    server.run(f"CREATE TABLE {table} ({', '.join(columns)})")
    return table


def wide_rows(readings: pd.DataFrame, zone: bool) -> pd.DataFrame:
    """Readings as the wide table takes them: naive UTC for a ``timestamp`` column."""
    rows = readings.copy()
    if not zone:
        rows[TIME_COLUMN] = rows[TIME_COLUMN].dt.tz_localize(None)
    return rows


def create_long(server: SourceServer, readings: pd.DataFrame, robot: str = "r1") -> None:
    """The workshop's layout: ``readings_long`` (id, robot, time, axis id, current) with every
    axis, and ``axes`` listing only :data:`LISTED`; both readable by the reader."""
    server.run(
        "CREATE TABLE axes (axis_id integer PRIMARY KEY, axis_name text NOT NULL)",
        "CREATE TABLE readings_long (id bigserial PRIMARY KEY, robot text NOT NULL, "
        "recorded_at timestamptz NOT NULL, axis_id integer NOT NULL, current_a real)",
    )
    names = pd.DataFrame(
        {"axis_id": [10 + int(a.split("_")[1]) for a in LISTED], "axis_name": list(LISTED)}
    )
    server.load("axes", names)
    append_long(server, readings, robot)
    for table in ("axes", "readings_long"):
        server.grant_select(table)


def append_long(server: SourceServer, readings: pd.DataFrame, robot: str = "r1") -> None:
    melted = readings.melt(id_vars=[TIME_COLUMN], value_vars=list(AXES), var_name="axis")
    melted["axis_id"] = 10 + melted["axis"].str.split("_").str[1].astype(int)
    server.load(
        "readings_long",
        pd.DataFrame(
            {
                "robot": robot,
                "recorded_at": melted[TIME_COLUMN],
                "axis_id": melted["axis_id"],
                "current_a": melted["value"],
            }
        ),
    )
