"""A huge value in an export never travels whole into an error line (nor, through it, into a
Dagster event or a quarantine reason): every message quotes file content through one capped
helper, and a line too long to be a controller's is refused early, by its number, on both
the whole-file and the streaming read."""

from pathlib import Path

import pytest

from pm_pipeline.core.errors import PipelineError, quoted
from pm_pipeline.core.parsing.careful import check_export_header, parse_export
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.parsing.stream import open_export_stream
from pm_pipeline.core.schema import AXES

HEADER = "timestamp_recorded," + ",".join(AXES)
MESSAGE_LIMIT = 600
"""Characters an error line may take: a path, a line number, a capped value and advice."""


def export_with(path: Path, value: str, at_line: int = 5, lines: int = 10) -> Path:
    """A small export in the database layout whose axis_2 on ``at_line`` is ``value``."""
    rows = [HEADER]
    for n in range(2, lines + 1):
        current = value if n == at_line else "1.5"
        rows.append(f"2026-01-05T06:00:{n:02d}Z,1.0,{current}," + ",".join(["2.0"] * 6))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_quoted_caps_a_value_and_says_how_long_it_was() -> None:
    assert quoted("12.5x") == "'12.5x'"
    capped = quoted("9" * 3_000_000)
    assert len(capped) < 120
    assert "3,000,000 characters" in capped


def test_a_long_bad_value_is_quoted_capped(tmp_path: Path) -> None:
    # Under the line limit, so the parser reaches the value and reports it.
    path = export_with(tmp_path / "long.csv", "x" * 200_000)
    with pytest.raises(PipelineError) as raised:
        parse_export(path)
    message = str(raised.value)
    assert "line 5, column 'axis_2'" in message and "200,000 characters" in message
    assert len(message) < MESSAGE_LIMIT


def test_a_long_bad_time_is_quoted_capped(tmp_path: Path) -> None:
    path = tmp_path / "time.csv"
    path.write_text(f"{HEADER}\n{'T' * 200_000},1,1,1,1,1,1,1,1\n")
    with pytest.raises(PipelineError, match="line 2, column 'timestamp_recorded'") as raised:
        parse_export(path)
    assert len(str(raised.value)) < MESSAGE_LIMIT


def test_a_huge_header_name_is_quoted_capped(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(f"{'h' * 200_000},axis_1\n1,2\n")
    with pytest.raises(PipelineError, match="no time column") as raised:
        check_export_header(path)
    assert len(str(raised.value)) < MESSAGE_LIMIT


@pytest.mark.parametrize("where", ["whole-file", "stream", "header-check"])
def test_an_absurdly_long_line_is_refused_by_its_number(tmp_path: Path, where: str) -> None:
    line = 2 if where == "header-check" else 6
    path = export_with(tmp_path / "huge.csv", "7" * (3 << 20), at_line=line)
    with pytest.raises(PipelineError) as raised:
        if where == "whole-file":
            parse_export(path)
        elif where == "header-check":
            check_export_header(path)
        else:
            for _ in open_export_stream(path, ExportFormat(), block_bytes=64 << 10).chunks():
                pass
    message = str(raised.value)
    assert f"line {line} is longer than 1 MiB" in message, message
    assert len(message) < MESSAGE_LIMIT


def test_a_huge_header_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text(f"timestamp_recorded,{'a' * (2 << 20)}\n2026-01-05T06:00:00Z,1\n")
    for read in (
        parse_export,
        check_export_header,
        lambda p: open_export_stream(p, ExportFormat()),
    ):
        with pytest.raises(PipelineError, match="line 1 is longer than 1 MiB"):
            read(path)
