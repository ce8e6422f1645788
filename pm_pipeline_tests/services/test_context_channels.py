"""Context channels end to end, on SQLite and Postgres: a robots file's ``context_columns``
read from an export (stream and careful parser alike), stored beside the axes, read back
with training windows and scored files, and named in the model; and events that say which
channels moved, stored and shown."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pm_pipeline.cli.events import format_table
from pm_pipeline.core.detection.contributions import top_contributors
from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling, with_context_names
from pm_pipeline.core.notifications.messages import event_payload
from pm_pipeline.core.notifications.routing import AlertRouting
from pm_pipeline.core.parsing.careful import parse_export
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.schema import CONTEXT_COLUMNS, TIME_COLUMN
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import read_events, replace_events
from pm_pipeline.db.readings import read_readings, readings_before
from pm_pipeline.db.registry import register_model
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.ingest import ingest_export
from pm_pipeline.services.training import context_names

OVEN = ExportFormat(
    2,
    {"time": "Zeit", "axis_1": "I_A", "axis_2": "I_B"},
    context_columns=("Temp", "Speed", "Prog"),
)
SMALL_BLOCKS = 16 << 10  # several chunks, so the stream's COPY sees more than one


def write_oven_export(path: Path, rows: int = 1500) -> pd.DataFrame:
    """A semicolon export with decimal commas: two currents, a temperature, a signed speed
    and a program number; returns the values written."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "Zeit": pd.date_range("2026-02-01", periods=rows, freq="2s", tz="UTC"),
            "I_A": (2.0 + 0.1 * rng.standard_normal(rows)).round(4),
            "Prog": np.repeat([7.0, 8.0, 9.0], -(-rows // 3))[:rows],
            "I_B": (1.0 + 0.1 * rng.standard_normal(rows)).round(4),
            "Temp": (31.5 + 0.01 * np.arange(rows)).round(3),
            "Speed": np.sin(np.arange(rows) / 10).round(4),
        }
    )
    text = frame.assign(Zeit=frame["Zeit"].dt.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    path.write_text(text.to_csv(sep=";", index=False, decimal=","), encoding="utf-8")
    return frame


def test_context_columns_are_stored_and_read_back(database_url: str, tmp_path: Path) -> None:
    written = write_oven_export(tmp_path / "oven.csv")
    engine = open_engine(database_url)
    done = ingest_export(
        engine,
        readings_table(),
        "oven",
        tmp_path / "oven.csv",
        "sha",
        OVEN,
        block_bytes=SMALL_BLOCKS,
    )
    assert done.streamed and done.ingest.rows_added == len(written)
    stored = read_readings(engine, readings_table(), "oven")
    assert [c for c in stored.columns if c in CONTEXT_COLUMNS] == list(CONTEXT_COLUMNS[:3])
    np.testing.assert_allclose(stored["context_1"], written["Temp"])
    np.testing.assert_allclose(stored["context_2"], written["Speed"])
    np.testing.assert_allclose(stored["context_3"], written["Prog"])
    np.testing.assert_allclose(stored["axis_2"], written["I_B"])
    # The careful parser reads the same values; the tail a scored file replays has them too.
    careful = parse_export(tmp_path / "oven.csv", OVEN).readings
    pd.testing.assert_frame_equal(careful[stored.columns], stored, check_dtype=False)
    tail = readings_before(engine, readings_table(), "oven", stored[TIME_COLUMN].iloc[-1], 10)
    assert tail["context_3"].tolist() == [9.0] * 10
    # A robot without context reads back as it always did: no context columns at all.
    plain = tmp_path / "plain.csv"
    write_oven_export(plain)[["Zeit", "I_A", "I_B"]].assign(
        Zeit=lambda f: f["Zeit"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    ).to_csv(plain, index=False)
    ingest_export(
        engine, readings_table(), "plain", plain, "sha2", ExportFormat(2, OVEN.column_map)
    )
    assert not set(read_readings(engine, readings_table(), "plain").columns) & set(CONTEXT_COLUMNS)


def test_a_missing_context_column_names_file_and_key(tmp_path: Path) -> None:
    write_oven_export(tmp_path / "oven.csv")
    wrong = ExportFormat(2, OVEN.column_map, context_columns=("Temp", "Pressure"))
    with pytest.raises(PipelineError, match=r"oven.csv: line 1: no context column\(s\) 'Pressure'"):
        parse_export(tmp_path / "oven.csv", wrong)


def test_a_model_records_which_column_each_context_is(tmp_path: Path) -> None:
    readings = parse_export(_oven(tmp_path), OVEN).readings
    names = context_names(readings, OVEN)
    assert names == {"context_1": "Temp", "context_2": "Speed", "context_3": "Prog"}
    model = fit_model(readings, fit_minmax_scaling(readings), SeedSettings())
    named = with_context_names(model, names)
    assert named.context_names == names and named.version != model.version
    assert named.to_dict()["context_names"] == names
    # A model without context keeps the dictionary, and so the version, it always had.
    assert with_context_names(model, {}).version == model.version
    assert "context_names" not in model.to_dict()


def _oven(folder: Path) -> Path:
    write_oven_export(folder / "oven.csv")
    return folder / "oven.csv"


def event(axis: str, contributions: str | None) -> dict:
    start = pd.Timestamp("2026-02-01T01:00:00Z")
    row = {
        "axis": axis,
        "severity": "ALERT",
        "start": start,
        "end": start + pd.Timedelta(minutes=2),
        "duration_s": 120.0,
        "z_mean": 3.1,
        "z_peak": 4.2,
        "p_value": 0.001,
        "n_samples": 60,
    }
    return row if contributions is None else {**row, "contributions": contributions}


def test_events_say_which_channels_moved(database_url: str, tmp_path: Path) -> None:
    engine = open_engine(database_url)
    readings = parse_export(_oven(tmp_path), OVEN).readings
    model = fit_model(readings, fit_minmax_scaling(readings), SeedSettings())
    register_model(engine, model, "oven", "run", {})
    # Today's modes score each axis alone: the axis is all of its event.
    found = detect_events(model, readings.assign(axis_1=readings["axis_1"] * 3))
    assert len(found)
    assert [json.loads(c) for c in found["contributions"]] == [{a: 1.0} for a in found["axis"]]
    shared = json.dumps({"axis_2": 0.62, "context_1": 0.3, "axis_1": 0.08})
    frame = pd.DataFrame([event("axis_2", shared)])
    replace_events(engine, "oven.csv", frame, model.version, "run", "oven")
    # A frame from before contributions (no column) stores none: the axis alone.
    older = pd.DataFrame([event("axis_1", None)])
    older[["start", "end"]] += pd.Timedelta(hours=1)
    replace_events(engine, "older.csv", older, model.version, "run", "oven")
    stored = read_events(engine, robot_id="oven").sort_values("start_ts", ignore_index=True)
    assert json.loads(stored["contributions"].iloc[0]) == json.loads(shared)
    assert pd.isna(stored["contributions"].iloc[1])
    shown = top_contributors(stored["contributions"].iloc[0], "axis_2", names=OVEN.contexts)
    assert shown == "axis_2 62%, Temp 30%, axis_1 8%"
    assert top_contributors(stored["contributions"].iloc[1], "axis_1") == "axis_1 100%"
    table = format_table(stored)
    assert "channels" in table.splitlines()[0] and "axis_2 62%, context_1 30%" in table
    payload = event_payload(
        {str(k): v for k, v in stored.iloc[0].items()},
        "open",
        "opened",
        "k",
        AlertRouting(("webhook",)),
    )
    assert payload["contributions"][0] == {"channel": "axis_2", "share": 0.62}
    assert "channels axis_2 62%, context_1 30%, axis_1 8%" in payload["text"]
