"""Scoring one landed file, the whole use case in one call: stored, archived and reported as
plain data; a bad file set aside with its reason; a problem that is not the file's stops; a
file replaced under its name changes its readings and events together or not at all."""

import gzip
import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.config.robots import load_fleet
from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.errors import DatabaseUnavailable
from pm_pipeline.core.model.params import SeedSettings, settings_for_mode
from pm_pipeline.core.model.trained import TrainedModel, fit_minmax_scaling
from pm_pipeline.core.schema import AXES, DEFAULT_ROBOT_ID, TIME_COLUMN
from pm_pipeline.core.simulation.sample import SampleFault, inject_wear, write_export
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import read_events
from pm_pipeline.db.readings import read_readings
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
from pm_pipeline_tests.conftest import worn_slice

ROBOT = DEFAULT_ROBOT_ID


@pytest.fixture(scope="module")
def model(robot_day: pd.DataFrame):
    return fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())


def scoring_run(sqlite_url: str, model, file_away: bool, pinned: str | None = None) -> ScoringRun:
    engine = open_engine(sqlite_url)
    return engine_run(engine, model, file_away, pinned)


def engine_run(engine: sa.Engine, model, file_away: bool, pinned: str | None = None) -> ScoringRun:
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


COMPARED = ["axis", "severity", "start_ts", "end_ts", "n_samples", "z_mean", "z_peak"]


@pytest.fixture(scope="module")
def early_model(robot_day: pd.DataFrame) -> TrainedModel:
    """Trained on the day's first five hours; the files hold the hours after."""
    train = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=5)
    ]
    return fit_model(train, fit_minmax_scaling(train), settings_for_mode("robust"))


def landed(readings: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_export(readings, path)
    return path


def stored_state(engine: sa.Engine) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The robot's readings, its events and the hashes of the files it ingested."""
    readings = read_readings(engine, readings_table(), ROBOT)[[TIME_COLUMN, *AXES]]
    events = read_events(engine, robot_id=ROBOT, landed_only=True)[["event_id", *COMPARED]]
    with engine.connect() as connection:
        hashes = connection.execute(sa.select(ingested_files.c.content_sha256)).scalars()
        return readings, events, sorted(hashes)


def killing_its_transaction(application: str, admin: sa.Engine) -> Callable[[], None]:
    """Ends the server process of the scoring's connection that is inside a transaction, as
    a Postgres restart would (the fence's connection, outside any, is spared)."""

    def kill() -> None:
        with admin.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                    "application_name = :name AND xact_start IS NOT NULL "
                    "AND pid <> pg_backend_pid()"
                ),
                {"name": application},
            )

    return kill


@pytest.mark.parametrize("fault", ["the events write raises", "the connection is killed"])
def test_a_replaced_file_changes_its_readings_and_events_together_or_not_at_all(
    postgres_url: str,
    early_model: TrainedModel,
    robot_day: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    """Issue #24 item 6: a corrected export landed under the same name. A failure between
    its readings and its events leaves the old readings and the old events; scored again,
    the new readings and the new events agree."""
    application = f"pm_test_{uuid.uuid4().hex[:10]}"
    engine = open_engine(f"{postgres_url}&application_name={application}")
    run = engine_run(engine, early_model, file_away=False)
    old = worn_slice(robot_day, after_hours=5)  # axis 2 draws 80% more from 30 min in
    second_hour = old[TIME_COLUMN].iloc[0] + pd.Timedelta(minutes=90)
    new = inject_wear(  # the same instants: axis 2 healthy, axis 3 worn an hour later
        robot_day.loc[old.index],
        SampleFault("axis_3", 1.8, second_hour, second_hour + pd.Timedelta(minutes=20)),
    )
    first = landed(old, tmp_path / "v1" / "line.csv")
    assert isinstance(score_landed_file(run, ROBOT, first.name, str(first)), LandedFileResult)
    before = stored_state(engine)
    assert set(before[1]["axis"]) == {"axis_2"}

    import pm_pipeline.services.notifications as notifications

    real_store = notifications.reconcile_events
    admin = open_engine(postgres_url)
    kill = killing_its_transaction(application, admin)

    def failing_store(*args, **kwargs):
        if fault == "the events write raises":
            raise RuntimeError("the events write failed")
        kill()
        return real_store(*args, **kwargs)

    monkeypatch.setattr(notifications, "reconcile_events", failing_store)
    second = landed(new, tmp_path / "v2" / "line.csv")
    expected = RuntimeError if fault == "the events write raises" else DatabaseUnavailable
    with pytest.raises(expected):
        score_landed_file(run, ROBOT, second.name, str(second))

    readings, events, hashes = stored_state(engine)
    pd.testing.assert_frame_equal(readings, before[0])  # the old values, not the new file's
    pd.testing.assert_frame_equal(events, before[1])
    assert hashes == before[2] == [file_sha256(first)]

    monkeypatch.undo()
    result = score_landed_file(run, ROBOT, second.name, str(second))

    assert isinstance(result, LandedFileResult) and result.ingest.rows_replaced > 0
    readings, events, hashes = stored_state(engine)
    expected_values = new[[TIME_COLUMN, *AXES]].reset_index(drop=True)
    pd.testing.assert_frame_equal(readings, expected_values, check_dtype=False)
    assert hashes == sorted([file_sha256(first), file_sha256(second)])
    one_pass = detect_events(early_model, readings)
    one_pass = one_pass.rename(columns={"start": "start_ts", "end": "end_ts"})[COMPARED]
    assert set(one_pass["axis"]) == {"axis_3"}  # the events agree with the new readings
    pd.testing.assert_frame_equal(
        events[COMPARED], one_pass, check_exact=False, rtol=1e-9, check_dtype=False
    )
    admin.dispose()


OPENED: list[str] = []
"""Paths opened while a test watches (see ``opens_of``)."""
_WATCHING: list[bool] = []


def _record_open(event: str, args: tuple) -> None:
    if _WATCHING and event == "open" and isinstance(args[0], str | Path):
        OPENED.append(str(args[0]))


sys.addaudithook(_record_open)  # an audit hook stays for the session: it records only when asked


def opens_of(path: Path, work: Callable[[], object]) -> tuple[int, object]:
    """How often ``work`` opens ``path``, and what it returns."""
    OPENED.clear()
    _WATCHING.append(True)
    try:
        result = work()
    finally:
        _WATCHING.clear()
    return OPENED.count(str(path)), result


@pytest.mark.parametrize("kind", ["plain", "gzip", "read whole"])
def test_a_landed_file_is_opened_once_and_hashed_as_scored(
    sqlite_url: str, model, robot_day: pd.DataFrame, tmp_path: Path, kind: str
) -> None:
    """Issue #27: the header check, the stream (and the careful parser's whole read, when
    the stream cannot take the file) read one handle; the hash is of the bytes scored."""
    run = scoring_run(sqlite_url, model, file_away=False)
    path = tmp_path / "day.csv"
    write_export(robot_day.head(3000), path)
    if kind == "gzip":
        path.write_bytes(gzip.compress(path.read_bytes()))
    if kind == "read whole":  # a no-load word the stream does not know
        path.write_text(path.read_text().replace(",,,,,,", ",nUlL,,,,,", 1))

    opens, result = opens_of(path, lambda: score_landed_file(run, ROBOT, path.name, str(path)))

    assert isinstance(result, LandedFileResult)
    assert opens == 1
    assert result.sha256 == file_sha256(path)
    assert result.streamed == (kind != "read whole")
    assert result.ingest.rows_added == 3000
