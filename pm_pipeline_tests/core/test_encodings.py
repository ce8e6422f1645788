"""A file that is not UTF-8 is one line naming the line and byte and saying "re-save as
UTF-8"; a robot whose controller writes Windows-1252 reads its exports with the robots file's
``encoding`` key, on the whole-file and the streaming read alike."""

from pathlib import Path

import pytest

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.parsing.careful import check_export_header, parse_export
from pm_pipeline.core.parsing.format import ExportFormat, ExportSettingError
from pm_pipeline.core.parsing.stream import open_export_stream
from pm_pipeline.core.schema import TIME_COLUMN

HEADER = '"Trait",' + ",".join(f'"Axis #{n}"' for n in range(1, 9)) + ',"Time"\n'
ZEROS = ",".join(["1.5"] * 8)
WINDOWS = ExportFormat(encoding="cp1252")


def windows_export(path: Path) -> Path:
    """A controller export as a German Windows PC saves it: 'Stromstärke (€)' in cp1252
    on line 3, where "ä" is the byte 0xE4 (the 9th byte of that line)."""
    lines = [
        HEADER,
        f'"current",{ZEROS},"2022-10-17T12:18:23.660Z"\n',
        f'"Stromstärke (€)",{ZEROS},"2022-10-17T12:18:25.472Z"\n',
        f'"current",{ZEROS},"2022-10-17T12:18:27.100Z"\n',
    ]
    path.write_bytes("".join(lines).encode("cp1252"))
    return path


@pytest.mark.parametrize("read", [parse_export, check_export_header])
def test_a_latin_1_file_names_line_and_byte(tmp_path: Path, read) -> None:
    path = windows_export(tmp_path / "windows.csv")
    with pytest.raises(PipelineError) as raised:
        read(path)
    message = str(raised.value)
    assert "line 3, byte 9 (0xe4)" in message, message
    assert "re-save as UTF-8" in message and "encoding: cp1252" in message
    assert "\n" not in message


def test_a_latin_1_header_names_line_1(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_bytes("Zeit (€),axis_1\n".encode("cp1252"))
    with pytest.raises(PipelineError, match=r"line 1, byte 7 \(0x80\).*re-save as UTF-8"):
        parse_export(path)


def test_the_encoding_key_reads_windows_1252_exports(tmp_path: Path) -> None:
    path = windows_export(tmp_path / "windows.csv")
    whole = parse_export(path, WINDOWS).readings
    stream = open_export_stream(path, WINDOWS)
    streamed = next(iter(stream.chunks()))
    assert len(whole) == len(streamed) == 3
    assert (whole["axis_8"] == 1.5).all() and (streamed["axis_8"] == 1.5).all()
    assert list(whole[TIME_COLUMN]) == list(streamed[TIME_COLUMN])


def test_a_column_map_in_windows_1252_matches(tmp_path: Path) -> None:
    path = tmp_path / "mapped.csv"
    path.write_bytes("Zeit (€),Strom 1\n2022-10-17T12:18:23Z,2.5\n".encode("cp1252"))
    fmt = ExportFormat(1, {"time": "Zeit (€)", "axis_1": "Strom 1"}, encoding="cp1252")
    assert parse_export(path, fmt).readings["axis_1"].tolist() == [2.5]


@pytest.mark.parametrize(
    ("encoding", "says"),
    [("klingon", "not a text encoding"), ("utf-16", "not ASCII-compatible")],
)
def test_an_unusable_encoding_is_refused(encoding: str, says: str) -> None:
    with pytest.raises(ExportSettingError, match=f"encoding: '{encoding}' is {says}"):
        ExportFormat(encoding=encoding)
