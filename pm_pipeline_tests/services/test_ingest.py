"""The one ingest path and its one collision rule, on SQLite and Postgres: a reading is
identified by robot and timestamp, one already stored is kept, and within a file the first
reading of an instant wins; the careful parser stores what the stream stores."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.parsing.careful import parse_export
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.readings import read_readings, readings_span
from pm_pipeline.db.schema import ingested_files, readings_table
from pm_pipeline.services.ingest import IngestedExport, ingest_export

SMALL_BLOCKS = 64 << 10  # ~1,000 rows per chunk
EIGHT = ExportFormat()


@pytest.fixture
def readings(robot_day: pd.DataFrame, tmp_path: Path) -> pd.DataFrame:
    """Two hours of readings, as they read back from an export."""
    start = robot_day[TIME_COLUMN].iloc[0]
    two_hours = robot_day[robot_day[TIME_COLUMN] < start + pd.Timedelta(hours=2)]
    return parse_export(written(two_hours, tmp_path / "two_hours.csv"), EIGHT).readings


def ingest(engine: sa.Engine, robot: str, path: Path) -> IngestedExport:
    return ingest_export(
        engine, readings_table(), robot, path, "sha", EIGHT, block_bytes=SMALL_BLOCKS
    )


def written(frame: pd.DataFrame, path: Path) -> Path:
    write_export(frame, path)
    return path


def test_a_file_overlapping_stored_readings_adds_only_the_new_ones(
    database_url: str, readings: pd.DataFrame, tmp_path: Path
) -> None:
    engine = open_engine(database_url)
    half = len(readings) // 2
    first = ingest(engine, "r1", written(readings.iloc[:half], tmp_path / "first.csv"))
    # The second file repeats the first's last 100 instants with other values: stored ones stay.
    overlapping = readings.iloc[half - 100 :].copy()
    overlapping.loc[: half - 1, "axis_1"] += 5.0
    second = ingest(engine, "r1", written(overlapping, tmp_path / "second.csv"))
    assert first.streamed and second.streamed
    assert (first.ingest.rows_added, first.ingest.rows_present) == (half, 0)
    assert (second.ingest.rows_added, second.ingest.rows_present) == (len(readings) - half, 100)
    pd.testing.assert_frame_equal(read_readings(engine, readings_table(), "r1"), readings)


def test_within_a_file_the_first_reading_of_an_instant_wins(
    database_url: str, readings: pd.DataFrame, tmp_path: Path
) -> None:
    # Every 250th reading is repeated straight after itself with other currents; with
    # ~1,000-row chunks some repeats fall on a chunk seam.
    repeats = readings.iloc[::250].assign(axis_1=-1.0, axis_5=np.nan)
    doubled = pd.concat([readings, repeats]).sort_index(kind="stable").reset_index(drop=True)
    engine = open_engine(database_url)
    done = ingest(engine, "r1", written(doubled, tmp_path / "doubled.csv"))
    assert done.streamed
    assert (done.ingest.rows_in_file, done.ingest.rows_added) == (len(doubled), len(readings))
    assert done.ingest.rows_present == len(repeats)
    pd.testing.assert_frame_equal(read_readings(engine, readings_table(), "r1"), readings)


@pytest.mark.parametrize("why", ["out of time order", "an unusual null spelling"])
def test_the_careful_parser_stores_what_the_stream_stores(
    database_url: str, readings: pd.DataFrame, tmp_path: Path, why: str
) -> None:
    engine = open_engine(database_url)
    stored_before = ingest(engine, "r1", written(readings.iloc[:500], tmp_path / "before.csv"))
    streamed = ingest(engine, "r1", written(readings, tmp_path / "plain.csv"))
    assert stored_before.streamed and streamed.streamed
    odd = readings.copy()
    odd = pd.concat([odd, odd.iloc[[700]].assign(axis_2=-7.0)])  # a later repeat: not kept
    if why == "out of time order":
        odd = odd.iloc[::-1]
    path = written(odd, tmp_path / "odd.csv")
    if why == "an unusual null spelling":
        path.write_text(path.read_text().replace(",,,,,,", ",nUlL,,,,,", 1))
    ingest(engine, "r2", written(readings.iloc[:500], tmp_path / "before2.csv"))
    careful = ingest(engine, "r2", path)
    assert not careful.streamed
    if why == "out of time order":  # reversed, the repeat is the first of its instant
        expected = readings.copy()
        expected.loc[700, "axis_2"] = -7.0
    else:
        expected = read_readings(engine, readings_table(), "r1")
    assert careful.ingest.rows_in_file == len(readings) + 1
    assert careful.ingest.rows_added == streamed.ingest.rows_added
    pd.testing.assert_frame_equal(read_readings(engine, readings_table(), "r2"), expected)


def test_a_bad_last_row_stores_nothing(
    database_url: str, readings: pd.DataFrame, tmp_path: Path
) -> None:
    path = written(readings, tmp_path / "bad.csv")
    lines = path.read_text().splitlines(keepends=True)
    fields = lines[-1].split(",")
    fields[1] = "1.5 A"
    lines[-1] = ",".join(fields)
    path.write_text("".join(lines))
    engine = open_engine(database_url)
    with pytest.raises(PipelineError, match=rf"line {len(lines)}, column 'Axis #1'"):
        ingest(engine, "r1", path)
    assert readings_span(engine, readings_table(), "r1")[0] == 0
    with engine.connect() as connection:
        files = connection.execute(sa.select(sa.func.count()).select_from(ingested_files))
        assert files.scalar() == 0
