"""A live feed of small files ends with the events of one pass over the whole period: the
detector warms up on the stored tail, an event open at a file's end carries on under its id,
rescoring and late files change nothing, a gap joins and resolves nothing, and robots never
share state."""

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pm_pipeline.config.settings import Settings, load_settings
from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.model.params import settings_for_mode
from pm_pipeline.core.model.trained import TrainedModel, fit_minmax_scaling
from pm_pipeline.core.parsing.careful import parse_export
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import read_events
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.outbox import read_outbox
from pm_pipeline.db.readings import read_readings
from pm_pipeline.db.registry import register_model
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.notifications import store_file_events
from pm_pipeline.services.scoring import ScoredFile, ingest_and_detect
from pm_pipeline_tests.conftest import worn_slice

EIGHT = ExportFormat()
ROBOT = "r1"
COMPARED = ["axis", "severity", "start_ts", "end_ts", "n_samples", "z_mean", "z_peak"]


def trained(robot_day: pd.DataFrame, mode: str) -> TrainedModel:
    train = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=5)
    ]
    return fit_model(train, fit_minmax_scaling(train), settings_for_mode(mode))


@pytest.fixture(scope="module")
def model(robot_day: pd.DataFrame) -> TrainedModel:
    return trained(robot_day, "robust")


@pytest.fixture(scope="module", params=["robust", "seed", "cusum"])
def any_model(request: pytest.FixtureRequest, robot_day: pd.DataFrame) -> TrainedModel:
    return trained(robot_day, request.param)


@pytest.fixture(scope="module")
def feed(robot_day: pd.DataFrame) -> pd.DataFrame:
    """Three hours with a 20-minute fault on axis 2 half an hour in."""
    return worn_slice(robot_day, after_hours=5).reset_index(drop=True)


@pytest.fixture
def engine(database_url: str, model: TrainedModel) -> sa.Engine:
    engine = open_engine(database_url)
    register_model(engine, model, ROBOT, "run-0", {})
    return engine


class Feed:
    """Writes pieces of readings as files and scores them as the asset does."""

    def __init__(self, engine: sa.Engine, model: TrainedModel, folder: Path) -> None:
        self.engine, self.model, self.folder = engine, model, folder
        self.settings: Settings = load_settings({})

    def score(self, readings: pd.DataFrame, name: str, robot: str = ROBOT) -> ScoredFile:
        path = self.folder / name
        write_export(readings, path)
        scored = ingest_and_detect(
            self.engine,
            readings_table(),
            robot,
            path,
            name,
            self.model,
            EIGHT,
            max_model_age=self.settings.model_max_age,
        )
        store_file_events(
            self.engine, robot, name, scored, self.model.version, "run", self.settings
        )
        return scored


def pieces(readings: pd.DataFrame, rows: int) -> list[pd.DataFrame]:
    return [readings.iloc[i : i + rows] for i in range(0, len(readings), rows)]


def one_pass(model: TrainedModel, readings: pd.DataFrame) -> pd.DataFrame:
    found = detect_events(model, readings)
    return found.rename(columns={"start": "start_ts", "end": "end_ts"})[COMPARED]


def stored(engine: sa.Engine, robot: str = ROBOT) -> pd.DataFrame:
    return read_events(engine, robot_id=robot, landed_only=True)


def assert_one_pass(engine: sa.Engine, model: TrainedModel, readings: pd.DataFrame) -> None:
    expected = one_pass(model, readings)
    assert len(expected) >= 1
    pd.testing.assert_frame_equal(
        stored(engine)[COMPARED], expected, check_exact=False, rtol=1e-9, check_dtype=False
    )


def test_an_event_spanning_two_files_is_one_event_with_one_id(
    engine: sa.Engine, model: TrainedModel, feed: pd.DataFrame, tmp_path: Path
) -> None:
    cut = feed[TIME_COLUMN].iloc[0] + pd.Timedelta(minutes=40)  # mid-fault
    live = Feed(engine, model, tmp_path)
    live.score(feed[feed[TIME_COLUMN] < cut], "a.csv")
    first = stored(engine)
    carried = first[(first["axis"] == "axis_2") & (first["status"] == "open")]
    assert len(carried) == 1
    second = live.score(feed[feed[TIME_COLUMN] >= cut], "b.csv")
    after = stored(engine)
    on_axis_2 = after[after["end_ts"] >= cut]
    on_axis_2 = on_axis_2[on_axis_2["axis"] == "axis_2"]
    assert list(on_axis_2["event_id"]) == list(carried["event_id"])
    assert on_axis_2["source"].tolist() == ["a.csv"]
    assert on_axis_2["status"].tolist() == ["resolved"]
    assert on_axis_2["end_ts"].iloc[0] > carried["end_ts"].iloc[0]
    assert second.notes == ()
    assert_one_pass(engine, model, feed)


def test_warm_up_scores_a_live_feed_as_one_file(
    sqlite_url: str, any_model: TrainedModel, feed: pd.DataFrame, tmp_path: Path
) -> None:
    model = any_model
    engine = open_engine(sqlite_url)
    register_model(engine, model, ROBOT, "run-0", {})
    files = pieces(feed, 500)
    live = Feed(engine, model, tmp_path)
    for number, piece in enumerate(files):
        live.score(piece, f"part{number:03d}.csv")
    assert_one_pass(engine, model, feed)
    # Without the stored tail, the files' first samples score differently: the check bites.
    cold = pd.concat([one_pass(model, piece) for piece in files], ignore_index=True)
    assert not cold.equals(one_pass(model, feed))


@pytest.mark.parametrize("mode", ["robust", "seed"])
def test_rescoring_a_file_changes_nothing_and_stores_no_duplicate(
    database_url: str, robot_day: pd.DataFrame, mode: str, feed: pd.DataFrame, tmp_path: Path
) -> None:
    model = trained(robot_day, mode)
    engine = open_engine(database_url)
    register_model(engine, model, ROBOT, "run-0", {})
    files = pieces(feed, 1500)
    live = Feed(engine, model, tmp_path)
    for number, piece in enumerate(files):
        live.score(piece, f"part{number}.csv")
    before = stored(engine)
    for number in (1, 0, len(files) - 1):
        live.score(files[number], f"part{number}.csv")
    pd.testing.assert_frame_equal(
        stored(engine).drop(columns=["run_id"]), before.drop(columns=["run_id"])
    )


def test_files_scored_out_of_order_end_as_one_pass(
    sqlite_url: str, any_model: TrainedModel, feed: pd.DataFrame, tmp_path: Path
) -> None:
    model = any_model
    engine = open_engine(sqlite_url)
    register_model(engine, model, ROBOT, "run-0", {})
    files = pieces(feed, 1500)
    live = Feed(engine, model, tmp_path)
    order = [2, 0, 1, *range(3, len(files))]
    notes = [live.score(files[number], f"part{number}.csv").notes for number in order]
    assert_one_pass(engine, model, feed)
    assert all(not any("still open" in note for note in found) for found in notes)


def test_a_gap_resolves_nothing_and_joins_nothing(
    engine: sa.Engine, model: TrainedModel, feed: pd.DataFrame, tmp_path: Path
) -> None:
    start = feed[TIME_COLUMN].iloc[0]
    before_gap = feed[feed[TIME_COLUMN] < start + pd.Timedelta(minutes=40)]
    after_gap = feed[feed[TIME_COLUMN] >= start + pd.Timedelta(minutes=45)]
    live = Feed(engine, model, tmp_path)
    live.score(before_gap, "a.csv")
    carried = stored(engine)
    carried = carried[(carried["axis"] == "axis_2") & (carried["status"] == "open")]
    assert len(carried) == 1
    live.score(after_gap, "b.csv")
    after = stored(engine).set_index("event_id")
    kept = after.loc[int(carried["event_id"].iloc[0])]
    assert (kept["status"], kept["end_ts"], kept["source"]) == (
        "open",
        carried["end_ts"].iloc[0],
        "a.csv",
    )
    later = after[after["source"] == "b.csv"]
    assert (later["start_ts"] >= after_gap[TIME_COLUMN].iloc[0]).all()
    expected = pd.concat([one_pass(model, before_gap), one_pass(model, after_gap)])
    assert len(after) == len(expected)


def test_two_robots_keep_separate_state(
    engine: sa.Engine, model: TrainedModel, feed: pd.DataFrame, tmp_path: Path
) -> None:
    cut = feed[TIME_COLUMN].iloc[0] + pd.Timedelta(minutes=40)
    early, late = feed[feed[TIME_COLUMN] < cut], feed[feed[TIME_COLUMN] >= cut]
    for robot in ("r1", "r2"):  # a version names it with its robot
        register_model(engine, model, robot, "run-0", {})
    live = Feed(engine, model, tmp_path)
    live.score(early, "a.csv", robot="r1")
    live.score(late, "b.csv", robot="r2")
    # r2 has no readings before its file: no warm-up from r1's, and r1's event stays open.
    pd.testing.assert_frame_equal(
        stored(engine, "r2")[COMPARED], one_pass(model, late), check_exact=False, check_dtype=False
    )
    first = stored(engine, "r1")
    assert (first["source"] == "a.csv").all()
    assert "open" in set(first.loc[first["axis"] == "axis_2", "status"])


def test_readings_far_from_the_training_window_warn_naming_it(
    engine: sa.Engine, model: TrainedModel, feed: pd.DataFrame, tmp_path: Path
) -> None:
    live = Feed(engine, model, tmp_path)
    fresh = live.score(feed.head(300), "fresh.csv")
    assert not any("training window" in note for note in fresh.notes)
    old = feed.head(300).assign(
        **{TIME_COLUMN: feed[TIME_COLUMN].head(300) - pd.Timedelta(days=400)}
    )
    stale = feed.head(300).assign(
        **{TIME_COLUMN: feed[TIME_COLUMN].head(300) + pd.Timedelta(days=45)}
    )
    start, end = pd.Timestamp(model.window_start), pd.Timestamp(model.window_end)
    window = f"{start.isoformat()} to {end.isoformat()}"
    (older,) = live.score(old, "old.csv").notes
    assert "older than the model's training window" in older and window in older
    (later,) = live.score(stale, "stale.csv").notes
    assert "more than 30 days after" in later and window in later
    assert "PM_MODEL_MAX_AGE_DAYS" in later


def test_a_continued_event_notifies_opened_once_then_resolved(
    engine: sa.Engine, model: TrainedModel, feed: pd.DataFrame, tmp_path: Path
) -> None:
    cut = feed[TIME_COLUMN].iloc[0] + pd.Timedelta(minutes=40)
    live = Feed(engine, model, tmp_path)
    live.settings = load_settings({"PM_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook"})
    live.score(feed[feed[TIME_COLUMN] < cut], "a.csv")
    (event_id,) = stored(engine)["event_id"]
    assert changes(engine) == [(event_id, "opened", "open")]
    for _ in range(2):  # scoring the next file again queues nothing new
        live.score(feed[feed[TIME_COLUMN] >= cut], "b.csv")
        assert changes(engine) == [(event_id, "opened", "open"), (event_id, "resolved", "resolved")]


def changes(engine: sa.Engine) -> list[tuple[int, str, str]]:
    rows = read_outbox(engine)
    statuses = rows["payload_json"].map(lambda text: json.loads(str(text))["status"])
    return list(zip(rows["event_id"], rows["change"], statuses, strict=True))


@pytest.mark.parametrize("mode", ["robust", "seed", "cusum"])
def test_no_event_begins_before_the_scored_file(
    sqlite_url: str, robot_day: pd.DataFrame, mode: str, tmp_path: Path
) -> None:
    # The training window (ingested, never scored) ends ten minutes into a fault; the files
    # go on from there. Scored whole or as a feed of small files, the fault's event begins
    # at the first file's first reading, not inside the replayed training readings.
    worn = pd.concat(
        [
            robot_day[
                robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=5)
            ],
            worn_slice(robot_day, after_hours=5),
        ],
        ignore_index=True,
    )
    cut = worn[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=5, minutes=40)
    history, rest = worn[worn[TIME_COLUMN] < cut], worn[worn[TIME_COLUMN] >= cut]
    model = fit_model(history, fit_minmax_scaling(history), settings_for_mode(mode))
    engine = open_engine(sqlite_url)
    first = rest[TIME_COLUMN].iloc[0]
    found = {}
    for robot, files in (("whole", [rest]), ("pieces", pieces(rest, 300))):
        register_model(engine, model, robot, "run-0", {})
        ingest_readings(engine, readings_table(), history, robot, "history.csv", "sha")
        (tmp_path / robot).mkdir()
        live = Feed(engine, model, tmp_path / robot)
        for number, piece in enumerate(files):
            live.score(piece, f"part{number:03d}.csv", robot)
        found[robot] = stored(engine, robot)[COMPARED]
    whole = found["whole"]
    assert (whole["start_ts"] >= first).all()
    assert first in set(whole.loc[whole["axis"] == "axis_2", "start_ts"])
    if mode != "seed":  # seed's runs break at idle samples; the others' span the cut:
        # one pass over training readings and files shows the fault begin before the files.
        replayed = one_pass(model, worn)
        assert (replayed.loc[replayed["end_ts"] >= first, "start_ts"] < first).any()
    pd.testing.assert_frame_equal(found["pieces"], whole, check_exact=False, rtol=1e-9)


def score_landed(
    engine: sa.Engine, model: TrainedModel, readings: pd.DataFrame, path: Path
) -> ScoredFile:
    """Write ``readings`` as an export at ``path`` and score it as a landed file is (with
    its content hash)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_export(readings, path)
    scored = ingest_and_detect(
        engine, readings_table(), ROBOT, path, file_sha256(path), model, EIGHT
    )
    store_file_events(engine, ROBOT, path.name, scored, model.version, "run", load_settings({}))
    return scored


def stored_values(engine: sa.Engine) -> pd.DataFrame:
    return read_readings(engine, readings_table(), ROBOT)[[TIME_COLUMN, *AXES]]


def file_values(path: Path) -> pd.DataFrame:
    return parse_export(path, EIGHT).readings[[TIME_COLUMN, *AXES]]


def test_a_replaced_file_replaces_its_readings_and_events_agree_with_them(
    engine: sa.Engine,
    model: TrainedModel,
    robot_day: pd.DataFrame,
    feed: pd.DataFrame,
    tmp_path: Path,
) -> None:
    """A corrected export landed under the same name: its readings take the new values,
    so the stored readings and the events scored from its bytes agree. A file of another
    name keeps the rule that a stored reading is kept."""
    healthy = robot_day[robot_day[TIME_COLUMN] >= feed[TIME_COLUMN].iloc[0]]
    healthy = healthy.reset_index(drop=True)
    first = score_landed(engine, model, healthy, tmp_path / "v1" / "line.csv")
    assert first.ingest.rows_replaced == 0
    # The same instants, axis 2 drawing 80% more for 20 minutes.
    corrected = score_landed(engine, model, feed, tmp_path / "v2" / "line.csv")
    assert 0 < corrected.ingest.rows_replaced < len(feed)
    assert corrected.ingest.rows_added == 0
    assert any("new version of a file ingested before" in note for note in corrected.notes)
    new_values = file_values(tmp_path / "v2" / "line.csv")
    pd.testing.assert_frame_equal(stored_values(engine), new_values, check_dtype=False)
    assert_one_pass(engine, model, stored_values(engine))  # the events agree with them
    other = score_landed(engine, model, healthy, tmp_path / "other.csv")
    assert other.ingest.rows_replaced == 0 and other.ingest.rows_present == len(healthy)
    pd.testing.assert_frame_equal(stored_values(engine), new_values, check_dtype=False)
