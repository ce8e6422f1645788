"""Robots with fewer axes and renamed columns, from files on disk through ingest, training
and scoring, on a temporary SQLite database and Dagster instance."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from pm_pipeline.cli.app import ingest_file
from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.model.trained import TrainedModel
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.db.events import read_events
from pm_pipeline.db.readings import read_readings
from pm_pipeline.db.registry import list_models, load_model, newest_model_version
from pm_pipeline.defs.assets import TRAINING_ASSETS
from pm_pipeline.defs.assets.training import AXIS_MODEL_KEYS, THRESHOLD_KEYS
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline_tests.conftest import worn_slice
from pm_pipeline_tests.defs.test_materialize import score_landed
from pm_pipeline_tests.partitioned import ROBOT, materialize_robot
from pm_pipeline_tests.store import upgraded

MODEL_ASSETS = TRAINING_ASSETS[:4]  # raw_readings … thresholds: no detection involved


def write_columns(readings: pd.DataFrame, path: Path, names: dict[str, str], sep: str) -> None:
    """Write ``readings`` with only the columns of ``names`` (canonical → file name)."""
    out = readings[list(names)].rename(columns=names)
    out[names[TIME_COLUMN]] = readings[TIME_COLUMN].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out.to_csv(path, index=False, sep=sep, na_rep="", float_format="%.10g")


SIX_AXES = {TIME_COLUMN: "Time", **{f"axis_{n}": f"Axis #{n}" for n in range(1, 7)}}
RENAMED = {TIME_COLUMN: "Zeitstempel", **{f"axis_{n}": f"I_Motor{n}" for n in range(1, 7)}}
RENAMED_MAP = (
    '{"time": "Zeitstempel", ' + ", ".join(f'"axis_{n}": "I_Motor{n}"' for n in range(1, 7)) + "}"
)

# name: (file columns, separator, environment)
ROBOTS = {
    "6-axis controller export": (SIX_AXES, ",", {"PM_AXIS_COUNT": "6"}),
    "6-axis, renamed columns, semicolons": (
        RENAMED,
        ";",
        {"PM_AXIS_COUNT": "6", "PM_COLUMN_MAP": RENAMED_MAP},
    ),
}


def ingest_history(
    case: str, tmp_path: Path, robot_day: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> tuple[ReadingsDatabaseResource, pd.DataFrame]:
    """Write the first six hours as the robot's export, set its environment and ingest it."""
    names, sep, environ = ROBOTS[case]
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    history = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=6)
    ]
    path = tmp_path / "history.csv"
    write_columns(history, path, names, sep)
    database = ReadingsDatabaseResource(url=upgraded(f"sqlite:///{tmp_path / 'readings.db'}"))
    result = ingest_file(database, path, load_settings().export_format, ROBOT)
    assert result.rows_added == len(history)
    return database, history


@pytest.mark.parametrize("case", list(ROBOTS))
def test_six_axis_robot_is_stored_and_modelled_on_its_axes(
    tmp_path: Path, robot_day: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    database, history = ingest_history(case, tmp_path, robot_day, monkeypatch)
    stored = read_readings(database.engine(), database.table(), ROBOT)
    assert stored[["axis_7", "axis_8"]].isna().all().all()  # absent axes: blank, no load
    assert np.allclose(stored["axis_2"], history["axis_2"].to_numpy())
    with dg.instance_for_test() as instance:
        trained = materialize_robot(
            MODEL_ASSETS, resources=pipeline_resources(database), instance=instance
        )
        assert trained.success
        version = newest_model_version(database.engine(), ROBOT)
        model = load_model(database.engine(), version)
        assert model.axis_names == AXES[:6]
        for axis, key in AXIS_MODEL_KEYS.items():
            event = instance.get_latest_materialization_event(key)
            assert event is not None and event.asset_materialization is not None
            metadata = event.asset_materialization.metadata
            assert metadata["model_version"].value == version
            assert metadata["modelled"].value is (axis in model.axis_names)
            assert ("MinC" in metadata) is (axis in model.axis_names)
        for key in THRESHOLD_KEYS.values():
            assert instance.get_latest_materialization_event(key) is not None


@pytest.mark.parametrize("case", list(ROBOTS))
def test_six_axis_robot_is_verified_and_scored_end_to_end(
    tmp_path: Path, robot_day: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    database, _ = ingest_history(case, tmp_path, robot_day, monkeypatch)
    names, sep, _ = ROBOTS[case]
    landed = tmp_path / "landed.csv"
    write_columns(worn_slice(robot_day, after_hours=6), landed, names, sep)
    with dg.instance_for_test() as instance:
        trained = materialize_robot(
            TRAINING_ASSETS, resources=pipeline_resources(database), instance=instance
        )
        assert trained.success  # the promotion checks pass on the six modelled axes
        version = newest_model_version(database.engine(), ROBOT)
        scored = score_landed(database, instance, landed)
        assert scored.success
    events = read_events(database.engine(), "landed.csv")
    assert set(events["model_version"]) == {version}
    assert "axis_2" in set(events["axis"])  # the worn axis is caught
    assert set(events["axis"]) <= set(AXES[:6])


def test_an_eight_axis_model_hashes_as_before(robot_day: pd.DataFrame) -> None:
    """Stored versions stay valid: the ranges equal sklearn's MinMaxScaler, which fitted them
    before, and axis_names is derived, never stored."""
    from sklearn.preprocessing import MinMaxScaler

    from pm_pipeline.core.detection.registry import fit_model
    from pm_pipeline.core.model.params import settings_for_mode
    from pm_pipeline.core.model.trained import fit_minmax_scaling

    scaling = fit_minmax_scaling(robot_day)
    before = MinMaxScaler().fit(robot_day[list(AXES)].to_numpy(dtype="float64"))
    assert list(scaling.minimums.values()) == before.data_min_.tolist()
    assert list(scaling.maximums.values()) == before.data_max_.tolist()
    model = fit_model(robot_day, scaling, settings_for_mode("seed"))
    assert "axis_names" not in model.to_dict()
    assert isinstance(model, TrainedModel) and model.axis_names == AXES
    assert ExportFormat().axes == AXES


# name: (environment, axes 9-14 of the first row, exit code, stderr fragments)
CLI_INGESTS = {
    "14-axis export, axes 9-14 carry data: warned, axes 1-8 stored": (
        {},
        ["2.5", "0", "", "", "", "1"],
        0,
        ["warning: ", "'Axis #9' (1 non-zero reading)", "'Axis #14' (1 non-zero reading)"],
    ),
    "14-axis export, axes 9-14 blank: quiet": ({}, [""] * 6, 0, []),
    "bad PM_COLUMN_MAP: one error, nothing ingested": (
        {"PM_COLUMN_MAP": '{"axis_1": "I1", "axis_2": "I1"}'},
        [""] * 6,
        1,
        ["error: PM_COLUMN_MAP: keys 'axis_1' and 'axis_2' both name column 'I1'"],
    ),
}


@pytest.mark.parametrize("case", list(CLI_INGESTS))
def test_cli_ingest_surfaces_notes_and_setting_errors(
    tmp_path: Path,
    robot_day: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    from pm_pipeline.cli.app import main
    from pm_pipeline.core.simulation.sample import write_export

    environ, extra, code, fragments = CLI_INGESTS[case]
    monkeypatch.setenv("PM_DATABASE_URL", upgraded(f"sqlite:///{tmp_path / 'readings.db'}"))
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    readings = robot_day.head(50).copy()
    for number, value in enumerate(extra, start=9):
        readings[f"axis_{number}"] = [float(value) if value else np.nan] + [np.nan] * 49
    path = tmp_path / "export.csv"
    write_export(readings, path)  # the controller's layout, Axis #1 … Axis #14
    assert main(["ingest", str(path)]) == code
    captured = capsys.readouterr()
    for fragment in fragments:
        assert fragment in captured.err
    if not fragments:
        assert captured.err == ""
    if code == 0:
        assert "50 rows added" in captured.out


def test_context_channels_train_with_their_export_names(
    tmp_path: Path, robot_day: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, plumbing_mode: None
) -> None:
    robots = tmp_path / "robots.yaml"
    robots.write_text(f"robots:\n  {ROBOT}: {{context_columns: [Temp_J1, Speed_J1]}}\n")
    monkeypatch.setenv("PM_ROBOTS_FILE", str(robots))
    history = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=3)
    ].assign(Temp_J1=lambda f: 30 + np.arange(len(f)) / 1000, Speed_J1=1.5)
    path = tmp_path / "history.csv"
    names = {TIME_COLUMN: "Time", **{a: f"Axis #{n}" for n, a in enumerate(AXES, 1)}}
    write_columns(history, path, {**names, "Temp_J1": "Temp_J1", "Speed_J1": "Speed_J1"}, ",")
    database = ReadingsDatabaseResource(url=upgraded(f"sqlite:///{tmp_path / 'readings.db'}"))
    fmt = ExportFormat(context_columns=("Temp_J1", "Speed_J1"))
    assert ingest_file(database, path, fmt, ROBOT).rows_added == len(history)
    with dg.instance_for_test() as instance:
        trained = materialize_robot(
            MODEL_ASSETS, resources=pipeline_resources(database), instance=instance
        )
        assert trained.success
        raw = instance.get_latest_materialization_event(dg.AssetKey("raw_readings"))
        assert raw is not None and raw.asset_materialization is not None
        schema = raw.asset_materialization.metadata["dagster/column_schema"].value
        assert [c.name for c in schema.columns][-2:] == ["context_1", "context_2"]  # type: ignore[union-attr]
        axis_page = instance.get_latest_materialization_event(AXIS_MODEL_KEYS["axis_1"])
        assert axis_page is not None and axis_page.asset_materialization is not None
        shown = axis_page.asset_materialization.metadata["context_columns"].value
        assert "Temp_J1" in str(shown) and "Speed_J1" in str(shown)
    [entry] = list_models(database.engine(), ROBOT)
    model = load_model(database.engine(), entry.model_version)
    assert model.context_names == {"context_1": "Temp_J1", "context_2": "Speed_J1"}
    assert entry.metrics["context_columns"] == model.context_names
    assert entry.metrics["method"] == model.params.mode
