from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import AXES, READING_COLUMNS

CONTROLLER_HEADER = '"Trait",' + ",".join(f'"Axis #{i}"' for i in range(1, 15)) + ',"Time"\n'


def controller_row(values: list[str], stamp: str) -> str:
    return '"current",' + ",".join(values + [""] * 6) + f',"{stamp}"\n'


def write(tmp_path: Path, text: str, name: str = "export.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_real_export_parses_whole(real_export: Path) -> None:
    frame = read_export(real_export)
    assert list(frame.columns) == list(READING_COLUMNS)
    assert len(frame) == 39_672
    assert str(frame["timestamp_recorded"].dt.tz) == "UTC"
    assert frame["timestamp_recorded"].iloc[0] == pd.Timestamp("2022-10-17T12:18:23.660Z")
    assert frame["timestamp_recorded"].iloc[-1] == pd.Timestamp("2022-10-18T10:44:58.628Z")
    assert frame[list(AXES)].notna().all().all()
    assert frame["axis_2"].max() == pytest.approx(51.71323)


def test_controller_format_with_blank_value_is_null(tmp_path: Path) -> None:
    text = CONTROLLER_HEADER + controller_row(
        ["1.5", "", "0", "0", "0", "0", "0", "0.2"], "2022-10-17T12:18:23.660Z"
    )
    frame = read_export(write(tmp_path, text))
    assert frame["axis_1"].iloc[0] == 1.5
    assert np.isnan(frame["axis_2"].iloc[0])
    assert frame["axis_8"].iloc[0] == 0.2


def test_lowercase_time_unquoted_fields(tmp_path: Path) -> None:
    header = "Trait," + ",".join(f"Axis #{i}" for i in range(1, 15)) + ",time\n"
    row = "current,1,2,3,4,5,6,7,8,,,,,,,2022-10-17T12:18:23.660Z\n"
    frame = read_export(write(tmp_path, header + row))
    assert frame.loc[0, "axis_8"] == 8.0


def test_database_layout_and_offsets_become_utc(tmp_path: Path) -> None:
    header = "timestamp_recorded," + ",".join(AXES) + "\n"
    row = "2022-10-17T14:18:23.660+02:00,1,2,3,4,5,6,7,8\n"
    frame = read_export(write(tmp_path, header + row))
    assert frame.loc[0, "timestamp_recorded"] == pd.Timestamp("2022-10-17T12:18:23.660Z")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        (CONTROLLER_HEADER, "has a header but no readings"),
        ("Trait,Axis #1\ncurrent,1\n", "line 1: no time column"),
        (
            "time," + ",".join(f"Axis #{i}" for i in range(1, 7)) + "\n",
            "line 1: missing current column(s) axis_7, axis_8",
        ),
        (
            CONTROLLER_HEADER
            + controller_row(["0"] * 8, "2022-10-17T12:18:23.660Z")
            + controller_row(["0"] * 8, "yesterday noon"),
            "line 3, column 'Time': cannot read timestamp 'yesterday noon'",
        ),
        (
            CONTROLLER_HEADER
            + controller_row(["0"] * 8, "2022-10-17T12:18:23.660Z")
            + controller_row(
                ["0", "0", "0", "abc", "0", "0", "0", "0"], "2022-10-17T12:18:25.660Z"
            ),
            "line 3, column 'Axis #4': current 'abc' is not a number",
        ),
    ],
    ids=["empty", "header-only", "no-time", "six-axes", "bad-time", "bad-current"],
)
def test_user_errors_name_file_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PipelineError) as raised:
        read_export(path)
    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="no such file"):
        read_export(tmp_path / "absent.csv")
