"""Robots with fewer or more axes, and controllers that name their columns differently."""

import re
from pathlib import Path

import numpy as np
import pytest

from pm_pipeline.config.settings import load_settings
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.parsing.careful import check_export_header, parse_export, read_export
from pm_pipeline.core.parsing.format import ExportFormat, ExportSettingError
from pm_pipeline.core.schema import AXES, TIME_COLUMN

STAMPS = ("2022-10-17T12:00:00.000Z", "2022-10-17T12:00:02.000Z", "2022-10-17T12:00:04.000Z")


def export_text(axes: int, rows: list[list[str]], quote: bool = True) -> str:
    """A controller export with ``Axis #1 … Axis #<axes>``; ``rows`` hold the currents."""
    names = ["Trait", *(f"Axis #{n}" for n in range(1, axes + 1)), "Time"]
    header = ",".join(f'"{n}"' if quote else n for n in names)
    lines = [
        ",".join(['"current"', *values, f'"{stamp}"'])
        for values, stamp in zip(rows, STAMPS, strict=False)
    ]
    return "\n".join([header, *lines]) + "\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, newline="")
    return path


SIX = [["1", "2", "3", "4", "5", "6"], ["0", "0", "0", "0", "0", "0"]]
EIGHT = [[*SIX[0], "7", "8"], ["0"] * 8]


def fourteen(extra: list[str]) -> list[list[str]]:
    """Rows of a 14-axis export: axes 1-8 as EIGHT, axes 9-14 of the first row ``extra``."""
    return [[*EIGHT[0], *extra], ["0"] * 8 + [""] * 6]


# name: (file text, format, expected axis_1..axis_8 of the first row, note fragments or None)
READS = {
    "6 axes, PM_AXIS_COUNT=6": (
        export_text(6, SIX),
        ExportFormat(axis_count=6),
        [1, 2, 3, 4, 5, 6, None, None],
        None,
    ),
    "8 axes, PM_AXIS_COUNT=6: axes 7-8 carry data, noted": (
        export_text(8, EIGHT),
        ExportFormat(axis_count=6),
        [1, 2, 3, 4, 5, 6, None, None],
        [
            "'Axis #7' (1 non-zero reading)",
            "'Axis #8' (1 non-zero reading)",
            "axes 1-6",
            "PM_AXIS_COUNT=6",
        ],
    ),
    "14 axes, 9-14 blank (the real export): no note": (
        export_text(14, fourteen([""] * 6)),
        ExportFormat(),
        [1, 2, 3, 4, 5, 6, 7, 8],
        None,
    ),
    "14 axes, 9-14 zero or NULL: no note": (
        export_text(14, fourteen(["0", "0.0", "NULL", "nan", " ", "-0"])),
        ExportFormat(),
        [1, 2, 3, 4, 5, 6, 7, 8],
        None,
    ),
    "14 axes, 9 and 14 carry data: noted": (
        export_text(14, fourteen(["0.5", "0", "", "0", "", "-2"])),
        ExportFormat(),
        [1, 2, 3, 4, 5, 6, 7, 8],
        [
            "'Axis #9' (1 non-zero reading)",
            "'Axis #14' (1 non-zero reading)",
            "axes 1-8",
            "not stored",
        ],
    ),
    "database layout with a 1-axis robot": (
        "timestamp_recorded,axis_1\n2022-10-17T12:00:00Z,4.5\n",
        ExportFormat(axis_count=1),
        [4.5, None, None, None, None, None, None, None],
        None,
    ),
}


@pytest.mark.parametrize("case", list(READS))
def test_axis_counts_and_extra_axes(tmp_path: Path, case: str) -> None:
    text, fmt, expected, note = READS[case]
    path = write(tmp_path, "export.csv", text)
    parsed = parse_export(path, fmt)
    assert list(parsed.readings.columns) == [TIME_COLUMN, *AXES]
    first = parsed.readings.iloc[0]
    for axis, value in zip(AXES, expected, strict=True):
        assert np.isnan(first[axis]) if value is None else first[axis] == value, axis
    if note is None:
        assert parsed.notes == ()
    else:
        [text_of_note] = parsed.notes
        assert str(path) in text_of_note
        for fragment in note:
            assert fragment in text_of_note
        assert "'Axis #10'" not in text_of_note  # only the columns that carry data
    check_export_header(path, fmt)


def test_read_export_logs_the_note(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "export.csv", export_text(14, fourteen(["3", "", "", "", "", ""])))
    frame = read_export(path, ExportFormat())
    assert frame["axis_1"].iloc[0] == 1
    assert any("'Axis #9'" in record.getMessage() for record in caplog.records)


GERMAN = (
    "Zeitstempel;I_Motor1;I_Motor2;I_Motor3;I_Motor4;I_Motor5;I_Motor6\n"
    "2022-10-17T12:00:00Z;1,5;2;3;4;5;6\n"
    "2022-10-17T12:00:02Z;0;0;0;0;0;0\n"
)
GERMAN_MAP = (
    '{"time": "Zeitstempel", '
    + ", ".join(f'"axis_{n}": "i_motor{n}"' for n in range(1, 7))  # case is ignored
    + "}"
)

# name: (file text, environment, expected first-row axis_1..axis_3)
MAPPED = {
    "all renamed, 6 axes, semicolons": (
        GERMAN,
        {"PM_AXIS_COUNT": "6", "PM_COLUMN_MAP": GERMAN_MAP},
        [1.5, 2.0, 3.0],
    ),
    "only the time renamed": (
        export_text(8, EIGHT).replace('"Time"', '"Zeit"'),
        {"PM_COLUMN_MAP": '{"time": "Zeit"}'},
        [1.0, 2.0, 3.0],
    ),
    "axes 1 and 2 swapped by the map": (
        export_text(8, EIGHT),
        {"PM_COLUMN_MAP": '{"axis_1": "Axis #2", "axis_2": "Axis #1"}'},
        [2.0, 1.0, 3.0],
    ),
    "blank settings are the defaults": (
        export_text(8, EIGHT),
        {"PM_AXIS_COUNT": " ", "PM_COLUMN_MAP": ""},
        [1.0, 2.0, 3.0],
    ),
}


@pytest.mark.parametrize("case", list(MAPPED))
def test_renamed_columns_are_read_through_the_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    text, environ, expected = MAPPED[case]
    path = write(tmp_path, "export.csv", text)
    fmt = load_settings(environ).export_format
    frame = parse_export(path, fmt).readings
    assert frame[["axis_1", "axis_2", "axis_3"]].iloc[0].tolist() == expected
    assert frame[TIME_COLUMN].iloc[1].isoformat() == "2022-10-17T12:00:02+00:00"
    # Read from the process environment through the settings (as the assets and the sensor do).
    for name in ("PM_AXIS_COUNT", "PM_COLUMN_MAP"):
        monkeypatch.setenv(name, environ.get(name, ""))
    assert read_export(path, load_settings().export_format).equals(frame)
    check_export_header(path, load_settings().export_format)


# name: (file text, environment, message fragments)
MISSING = {
    "mapped time column absent": (
        export_text(8, EIGHT),
        {"PM_COLUMN_MAP": '{"time": "Zeitstempel"}'},
        ["line 1", "no time column 'Zeitstempel'", "PM_COLUMN_MAP"],
    ),
    "mapped axis column absent": (
        GERMAN.replace("I_Motor4", "I_Motor_4"),
        {"PM_AXIS_COUNT": "6", "PM_COLUMN_MAP": GERMAN_MAP},
        ["line 1", "missing current column(s) axis_4 (named 'i_motor4' by PM_COLUMN_MAP)"],
    ),
    "6-axis file, default 8 axes": (
        export_text(6, SIX),
        {},
        ["line 1", "missing current column(s) axis_7, axis_8", "set PM_AXIS_COUNT"],
    ),
    "renamed columns, no map": (
        GERMAN,
        {"PM_AXIS_COUNT": "6"},
        ["line 1", "no time column", "PM_COLUMN_MAP"],
    ),
}


@pytest.mark.parametrize("case", list(MISSING))
def test_a_missing_mapped_column_names_file_and_line(tmp_path: Path, case: str) -> None:
    text, environ, fragments = MISSING[case]
    path = write(tmp_path, "export.csv", text)
    fmt = load_settings(environ).export_format
    for check in (parse_export, check_export_header):
        with pytest.raises(PipelineError) as raised:
            check(path, fmt)
        assert str(path) in str(raised.value)
        for fragment in fragments:
            assert fragment in str(raised.value)


# name: (environment, message fragments: the variable, the key, what to do)
BAD_SETTINGS = {
    "count not a number": ({"PM_AXIS_COUNT": "six"}, ["PM_AXIS_COUNT: 'six'", "from 1 to 8"]),
    "count above 8": ({"PM_AXIS_COUNT": "14"}, ["PM_AXIS_COUNT: 14", "stores up to 8"]),
    "count zero": ({"PM_AXIS_COUNT": "0"}, ["PM_AXIS_COUNT: 0", "number of axes"]),
    "map not JSON": ({"PM_COLUMN_MAP": "{time: Zeit}"}, ["PM_COLUMN_MAP: not valid JSON"]),
    "map a list": ({"PM_COLUMN_MAP": '["Zeit"]'}, ["PM_COLUMN_MAP: expected a JSON object"]),
    "unknown canonical name": (
        {"PM_COLUMN_MAP": '{"axis_9": "I9"}'},
        ["PM_COLUMN_MAP: key 'axis_9' is not a canonical column", "'axis_1' … 'axis_8'"],
    ),
    "time spelt otherwise": (
        {"PM_COLUMN_MAP": '{"Time": "Zeit"}'},
        ["key 'Time' is not a canonical column", "use 'time'"],
    ),
    "axis beyond the count": (
        {"PM_AXIS_COUNT": "6", "PM_COLUMN_MAP": '{"axis_7": "I7"}'},
        ["key 'axis_7' maps an axis beyond PM_AXIS_COUNT=6"],
    ),
    "number as a column": (
        {"PM_COLUMN_MAP": '{"axis_1": 5}'},
        ["key 'axis_1': 5 is not a column name", "JSON string"],
    ),
    "blank column": ({"PM_COLUMN_MAP": '{"time": "  "}'}, ["key 'time': '  ' is not a column"]),
    "null column": ({"PM_COLUMN_MAP": '{"axis_2": null}'}, ["key 'axis_2': None is not"]),
    "duplicate source": (
        {"PM_COLUMN_MAP": '{"axis_1": "I_Motor", "axis_2": " i_motor "}'},
        ["keys 'axis_1' and 'axis_2' both name column ' i_motor '", "map each file column"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_settings_raise_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    environ, fragments = BAD_SETTINGS[case]
    with pytest.raises(ExportSettingError) as raised:
        load_settings(environ)
    for fragment in fragments:
        assert fragment in str(raised.value)
    # A file read with the environment's settings fails the same way, before the file matters.
    path = write(tmp_path, "export.csv", export_text(8, EIGHT))
    for name in ("PM_AXIS_COUNT", "PM_COLUMN_MAP"):
        monkeypatch.setenv(name, environ.get(name, ""))
    with pytest.raises(ExportSettingError, match=re.escape(fragments[0])):
        read_export(path, load_settings().export_format)


def test_format_built_in_code_is_validated_too() -> None:
    with pytest.raises(ExportSettingError, match="PM_AXIS_COUNT: 9"):
        ExportFormat(axis_count=9)
    with pytest.raises(ExportSettingError, match=r"key 'axis_1': 1.5 is not a column name"):
        ExportFormat(column_map={"axis_1": 1.5})  # type: ignore[dict-item]
