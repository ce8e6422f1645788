"""Scoring one landed file, the whole use case in one call: stored, archived and reported as
plain data; a bad file set aside with its reason; a problem that is not the file's stops."""

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.config.robots import load_fleet
from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.errors import DatabaseUnavailable
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import DEFAULT_ROBOT_ID
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import read_events
from pm_pipeline.db.registry import register_model
from pm_pipeline.db.schema import ingested_files, readings_table
from pm_pipeline.services.landed_file import (
    LandedFileResult,
    NotScored,
    RunModels,
    ScoringRun,
    ScoringStopped,
    score_landed_file,
)
from pm_pipeline.services.landing import REASON_SUFFIX

ROBOT = DEFAULT_ROBOT_ID


@pytest.fixture(scope="module")
def model(robot_day: pd.DataFrame):
    return fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())


def scoring_run(sqlite_url: str, model, file_away: bool, pinned: str | None = None) -> ScoringRun:
    engine = open_engine(sqlite_url)
    register_model(engine, model, ROBOT, "run-0", {})
    settings = load_settings({})
    return ScoringRun(
        readings_table(),
        settings,
        load_fleet(settings),
        RunModels(lambda: engine, pinned or model.version),
        file_away=file_away,
        run_id="run-1",
    )


def stored_files(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        count = sa.select(sa.func.count()).select_from(ingested_files)
        return connection.execute(count).scalar() or 0


def test_a_scored_file_is_stored_archived_and_its_events_returned(
    sqlite_url: str, model, robot_day: pd.DataFrame, tmp_path: Path
) -> None:
    run = scoring_run(sqlite_url, model, file_away=True)
    path = tmp_path / "day.csv"
    write_export(robot_day.head(4000), path)
    sha256, landed_at = file_sha256(path), path.stat().st_mtime

    result = score_landed_file(run, ROBOT, path.name, str(path))

    assert isinstance(result, LandedFileResult)
    assert (result.sha256, result.landed_at, result.model_version) == (
        sha256,
        landed_at,
        model.version,
    )
    assert not path.exists() and result.archived.parent == tmp_path / "archive"
    assert file_sha256(result.archived) == sha256 and result.archive_warning is None
    assert result.ingest.rows_in_file == result.ingest.rows_added == 4000
    stored = read_events(run.engine, path.name, ROBOT)
    pd.testing.assert_frame_equal(result.events, stored)
    assert result.stored.events == len(stored)
    assert set(result.robot_open_events["event_id"]) <= set(stored["event_id"])


@pytest.mark.parametrize("file_away", [True, False])
def test_a_file_whose_header_does_not_read_is_set_aside_and_nothing_stored(
    sqlite_url: str, model, tmp_path: Path, file_away: bool
) -> None:
    run = scoring_run(sqlite_url, model, file_away)
    path = tmp_path / "bad.csv"
    path.write_text("not,an,export\n1,2,3\n")

    result = score_landed_file(run, ROBOT, path.name, str(path))

    assert isinstance(result, NotScored)
    assert result.description.endswith(f"(file now at {result.moved})")
    if file_away:
        assert result.moved.parent == tmp_path / "quarantine" and not path.exists()
        reason = result.moved.with_name(result.moved.name + REASON_SUFFIX).read_text()
        assert reason.strip() in result.description
    else:
        assert result.moved == path and path.is_file()
    assert stored_files(run.engine) == 0


def test_a_missing_file_is_not_scored_and_says_where_to_look(
    sqlite_url: str, model, tmp_path: Path
) -> None:
    run = scoring_run(sqlite_url, model, file_away=True)
    path = tmp_path / "gone.csv"

    result = score_landed_file(run, ROBOT, path.name, str(path))

    assert isinstance(result, NotScored)
    assert result.description == f"{path}: no such file (already archived or quarantined?)"
    assert result.landed_at == 0.0


def test_an_unknown_model_stops_the_run_and_leaves_the_file_put(
    sqlite_url: str, model, robot_day: pd.DataFrame, tmp_path: Path
) -> None:
    run = scoring_run(sqlite_url, model, file_away=True, pinned="no-such-version")
    path = tmp_path / "day.csv"
    write_export(robot_day.head(500), path)

    with pytest.raises(ScoringStopped, match="no-such-version"):
        score_landed_file(run, ROBOT, path.name, str(path))

    assert path.is_file() and stored_files(run.engine) == 0


def test_a_bad_file_is_set_aside_before_the_database_is_opened(
    sqlite_url: str, model, robot_day: pd.DataFrame, tmp_path: Path
) -> None:
    def unreachable() -> sa.Engine:
        raise DatabaseUnavailable("the database refused the connection")

    run = replace(scoring_run(sqlite_url, model, file_away=True), models=RunModels(unreachable))
    path = tmp_path / "bad.csv"
    path.write_text("not,an,export\n1,2,3\n")

    result = score_landed_file(run, ROBOT, path.name, str(path))

    assert isinstance(result, NotScored) and result.moved.parent == tmp_path / "quarantine"
    good = tmp_path / "good.csv"
    write_export(robot_day.head(500), good)
    with pytest.raises(DatabaseUnavailable):
        score_landed_file(run, ROBOT, good.name, str(good))
    assert good.is_file()
