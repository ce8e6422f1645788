"""Scoring a file streamed in chunks stores and detects exactly what reading it whole does,
and a bad row anywhere, even in the last chunk, leaves nothing behind."""

import gzip
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.core.detection.events import events_in_order
from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.detection.seed import detect_events_seed
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.parsing.careful import parse_export
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.parsing.stream import NeedsCarefulRead, open_export_stream
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.readings import read_readings, readings_span
from pm_pipeline.db.schema import ingested_files, readings_table
from pm_pipeline.services.scoring import ingest_and_detect
from pm_pipeline_tests.conftest import worn_slice

SMALL_BLOCKS = 64 << 10  # ~1,000 rows per chunk, so a day of readings is many chunks
EIGHT = ExportFormat()


@pytest.fixture(scope="module")
def model_and_file(robot_day: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    train = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=5)
    ]
    model = fit_model(train, fit_minmax_scaling(train), settings_for_mode("robust"))
    path = tmp_path_factory.mktemp("exports") / "worn.csv"
    write_export(worn_slice(robot_day, after_hours=5), path)
    return model, path


def stored_files(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return (
            connection.execute(sa.select(sa.func.count()).select_from(ingested_files)).scalar() or 0
        )


def test_stream_reads_what_the_whole_file_parser_reads(real_export: Path, tmp_path: Path) -> None:
    whole = parse_export(real_export, EIGHT).readings
    zipped = tmp_path / "export.csv"
    zipped.write_bytes(gzip.compress(real_export.read_bytes()))
    semicolon = tmp_path / "semicolon.csv"
    semicolon.write_text(
        "".join(
            ";".join([*(cell.replace(".", ",") for cell in cells[:-1]), cells[-1]])
            for cells in (line.split(",") for line in real_export.read_text().splitlines(True))
        )
    )
    for path in (real_export, zipped, semicolon):
        stream = open_export_stream(path, EIGHT, block_bytes=SMALL_BLOCKS * 4)
        chunks = list(stream.chunks())
        assert len(chunks) > 3
        pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


@pytest.mark.parametrize(
    ("cell", "why"),
    [("12:00", "timestamp"), ("1.5 A", "current"), ("1e308", "current"), ("nUlL", "current")],
)
def test_unusual_cells_send_the_stream_to_the_careful_parser(
    tmp_path: Path, robot_day: pd.DataFrame, cell: str, why: str
) -> None:
    path = tmp_path / "odd.csv"
    write_export(robot_day.head(3000), path)
    lines = path.read_text().splitlines(keepends=True)
    fields = lines[2900].split(",")
    fields[-1 if why == "timestamp" else 1] = f'"{cell}"\n' if why == "timestamp" else cell
    lines[2900] = ",".join(fields)
    path.write_text("".join(lines))
    with pytest.raises(NeedsCarefulRead):
        list(open_export_stream(path, EIGHT, block_bytes=SMALL_BLOCKS).chunks())


def test_streamed_scoring_equals_whole_file_scoring(
    database_url: str, model_and_file: tuple
) -> None:
    model, path = model_and_file
    engine, table = open_engine(database_url), readings_table()
    scored = ingest_and_detect(engine, table, "r1", path, "sha", model, EIGHT, SMALL_BLOCKS)
    whole = parse_export(path, EIGHT).readings
    assert scored.streamed
    assert scored.ingest.rows_in_file == scored.ingest.rows_added == len(whole)
    assert (scored.ingest.first_time, scored.ingest.last_time) == (
        whole[TIME_COLUMN].min(),
        whole[TIME_COLUMN].max(),
    )
    expected = detect_events(model, whole)
    assert "axis_2" in set(expected["axis"])
    pd.testing.assert_frame_equal(
        scored.events.drop(columns="status"), expected, check_exact=False, rtol=1e-9
    )
    pd.testing.assert_frame_equal(read_readings(engine, table, "r1"), whole)
    again = ingest_and_detect(engine, table, "r1", path, "sha", model, EIGHT, SMALL_BLOCKS)
    assert (again.ingest.rows_added, again.ingest.rows_present) == (0, len(whole))


def test_a_bad_value_in_the_last_chunk_stores_nothing(
    database_url: str, model_and_file: tuple, tmp_path: Path
) -> None:
    model, good = model_and_file
    lines = good.read_text().splitlines(keepends=True)
    fields = lines[-2].split(",")
    fields[3] = "abc"
    lines[-2] = ",".join(fields)
    bad = tmp_path / "bad.csv"
    bad.write_text("".join(lines))
    engine, table = open_engine(database_url), readings_table()
    with pytest.raises(PipelineError, match=rf"line {len(lines) - 1}, column 'Axis #3'"):
        ingest_and_detect(engine, table, "r1", bad, "sha", model, EIGHT, SMALL_BLOCKS)
    assert readings_span(engine, table, "r1")[0] == 0
    assert stored_files(engine) == 0


def test_readings_out_of_order_are_sorted_in_memory(
    database_url: str, model_and_file: tuple, tmp_path: Path
) -> None:
    model, good = model_and_file
    whole = parse_export(good, EIGHT).readings
    shuffled = tmp_path / "shuffled.csv"
    write_export(whole.sample(frac=1.0, random_state=1), shuffled)
    engine = open_engine(database_url)
    scored = ingest_and_detect(
        engine, readings_table(), "r1", shuffled, "sha", model, EIGHT, SMALL_BLOCKS
    )
    assert not scored.streamed
    expected = detect_events(model, whole)
    pd.testing.assert_frame_equal(
        scored.events.drop(columns="status"), expected, check_exact=False, rtol=1e-9
    )


def test_a_reading_repeated_across_a_chunk_boundary_is_stored_once(
    database_url: str, model_and_file: tuple, tmp_path: Path
) -> None:
    # Every reading twice: some pairs straddle a chunk boundary, where the direct append
    # collides with the chunk before and the file is streamed again through staging.
    model, good = model_and_file
    whole = parse_export(good, EIGHT).readings
    doubled = tmp_path / "doubled.csv"
    write_export(whole.loc[whole.index.repeat(2)].reset_index(drop=True), doubled)
    engine, table = open_engine(database_url), readings_table()
    scored = ingest_and_detect(engine, table, "r1", doubled, "sha", model, EIGHT, SMALL_BLOCKS)
    assert scored.streamed
    assert (scored.ingest.rows_added, scored.ingest.rows_present) == (len(whole), len(whole))
    pd.testing.assert_frame_equal(read_readings(engine, table, "r1"), whole)
    assert stored_files(engine) == 1


def test_a_file_overlapping_stored_readings_adds_only_the_new_ones(
    database_url: str, model_and_file: tuple, tmp_path: Path
) -> None:
    model, good = model_and_file
    whole = parse_export(good, EIGHT).readings
    engine, table = open_engine(database_url), readings_table()
    later_half = tmp_path / "later.csv"
    write_export(whole.iloc[len(whole) // 2 :], later_half)
    ingest_and_detect(engine, table, "r1", later_half, "a", model, EIGHT, SMALL_BLOCKS)
    scored = ingest_and_detect(engine, table, "r1", good, "b", model, EIGHT, SMALL_BLOCKS)
    half = len(whole) - len(whole) // 2
    assert (scored.ingest.rows_added, scored.ingest.rows_present) == (len(whole) - half, half)
    pd.testing.assert_frame_equal(read_readings(engine, table, "r1"), whole)


def test_a_seed_model_streams_and_finds_the_one_pass_events(
    database_url: str, model_and_file: tuple, robot_day: pd.DataFrame
) -> None:
    _, path = model_and_file
    train = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=5)
    ]
    seed = fit_model(train, fit_minmax_scaling(train), settings_for_mode("seed"))
    engine, table = open_engine(database_url), readings_table()
    scored = ingest_and_detect(engine, table, "r1", path, "sha", seed, EIGHT, SMALL_BLOCKS)
    assert scored.streamed
    whole = parse_export(path, EIGHT).readings
    expected = events_in_order(detect_events_seed(seed, whole))
    assert len(expected) > 10
    pd.testing.assert_frame_equal(
        scored.events.drop(columns="status"), expected, check_exact=False, rtol=1e-9
    )
