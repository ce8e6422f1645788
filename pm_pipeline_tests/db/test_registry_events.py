import pandas as pd
import pytest

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.detection.lifecycle import OPEN, RESOLVED
from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import SYNTHETIC_SOURCE
from pm_pipeline.db.engine import mask_url, normalise_url, open_engine, resolve_database_url
from pm_pipeline.db.events import (
    file_and_open_events,
    has_landed_events,
    open_events,
    read_events,
    replace_events,
    robot_events,
    robot_open_events,
)
from pm_pipeline.db.registry import (
    activate_model,
    active_model_version,
    list_models,
    load_model,
    newest_model_version,
    register_model,
)


@pytest.fixture(scope="module")
def model(robot_day: pd.DataFrame):
    return fit_model(robot_day, fit_minmax_scaling(robot_day), SeedSettings())


def test_registry_round_trip(database_url: str, model, robot_day: pd.DataFrame) -> None:
    engine = open_engine(database_url)
    with pytest.raises(PipelineError, match="pm-pipeline train"):
        newest_model_version(engine, "r1")
    assert register_model(engine, model, "r1", "run-1", {"r2": 0.1}) is True
    assert register_model(engine, model, "r1", "run-2", {"r2": 0.1}) is False
    assert load_model(engine, model.version) == model
    [entry] = list_models(engine, "r1")
    assert entry.run_id == "run-1" and entry.row_count == len(robot_day)
    assert not entry.is_active
    with pytest.raises(PipelineError, match="did not pass its synthetic recall check"):
        active_model_version(engine, "r1")
    activate_model(engine, model.version, "r1", "test")
    assert active_model_version(engine, "r1") == model.version
    assert entry.window_start == pd.Timestamp(model.window_start)
    with pytest.raises(PipelineError, match="unknown model version"):
        load_model(engine, "0000")


def test_events_replace_per_source(database_url: str, model, robot_day: pd.DataFrame) -> None:
    engine = open_engine(database_url)
    register_model(engine, model, "r1", "run-1", {})
    events = detect_events(model, robot_day)
    assert len(events) > 0
    assert replace_events(engine, "a.csv", events, model.version, "run-a", "r1") == len(events)
    replace_events(engine, "b.csv", events.head(2), model.version, "run-b", "r1")
    replace_events(engine, "a.csv", events.head(1), model.version, "run-a2", "r1")
    stored = read_events(engine, "a.csv")
    assert len(stored) == 1 and stored["run_id"].tolist() == ["run-a2"]
    assert len(read_events(engine, "b.csv")) == 2
    assert stored["start_ts"].iloc[0] == events["start"].iloc[0]


def test_a_files_events_and_the_robots_open_ones_read_at_once(
    database_url: str, model, robot_day: pd.DataFrame
) -> None:
    """One query gives what reading the file's events and the robot's whole history gave:
    the file's events (open or not), and the robot's open events of landed files only."""
    engine = open_engine(database_url)
    register_model(engine, model, "r1", "run-1", {})
    events = detect_events(model, robot_day)
    assert len(events) >= 3
    every_other = [OPEN if n % 2 else RESOLVED for n in range(len(events))]
    replace_events(engine, "a.csv", events, model.version, "run-a", "r1", every_other)
    replace_events(engine, "b.csv", events.head(3), model.version, "run-b", "r1", [OPEN] * 3)
    replace_events(engine, SYNTHETIC_SOURCE, events.head(2), model.version, None, "r1", [OPEN] * 2)

    of_file, still_open = file_and_open_events(engine, "r1", "a.csv")

    pd.testing.assert_frame_equal(of_file, read_events(engine, "a.csv", "r1"))
    expected_open = open_events(robot_events(engine, "r1")).reset_index(drop=True)
    pd.testing.assert_frame_equal(still_open, expected_open)
    # A robot's status reads its open events alone, as the same rows.
    pd.testing.assert_frame_equal(robot_open_events(engine, "r1"), expected_open)
    assert robot_open_events(engine, "r2").empty
    assert set(still_open["source"]) == {"a.csv", "b.csv"}
    assert set(of_file["status"]) == {OPEN, RESOLVED}


def test_a_robot_has_landed_events_once_a_file_of_it_has_one(
    database_url: str, model, robot_day: pd.DataFrame
) -> None:
    """The probe agrees with reading the robot's history: the synthetic set's events and
    another robot's do not count."""
    engine = open_engine(database_url)
    register_model(engine, model, "r1", "run-1", {})
    events = detect_events(model, robot_day)
    replace_events(engine, SYNTHETIC_SOURCE, events.head(2), model.version, None, "r1")
    assert not has_landed_events(engine, "r1") and robot_events(engine, "r1").empty
    replace_events(engine, "a.csv", events.head(1), model.version, "run-a", "r1")
    assert has_landed_events(engine, "r1") and not robot_events(engine, "r1").empty
    assert not has_landed_events(engine, "r2")


def test_urls_are_normalised_and_masked() -> None:
    neon = "postgresql://alice:s3cret@ep-x.neon.tech/db?sslmode=require&channel_binding=require"
    normalised = normalise_url(neon)
    assert normalised.startswith("postgresql+psycopg2://alice:s3cret@")
    assert normalised.endswith("?sslmode=require&channel_binding=require")
    assert "s3cret" not in mask_url(neon)
    assert resolve_database_url(None, load_settings({"DATABASE_URL": neon})) == normalised
    assert (
        resolve_database_url(
            None, load_settings({"PM_DATABASE_URL": "sqlite:///x.db", "DATABASE_URL": neon})
        )
        == "sqlite:///x.db"
    )
    assert (
        resolve_database_url(None, load_settings({"PM_STATE_DIR": "/tmp/st"}))
        == "sqlite:////tmp/st/readings.db"
    )
    with pytest.raises(PipelineError, match="not a valid SQLAlchemy URL"):
        normalise_url("not a url")
