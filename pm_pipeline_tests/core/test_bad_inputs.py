"""Bad and unusual exports: each gets a clear error or a documented interpretation."""

import gzip
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.parsing.careful import read_export
from pm_pipeline.core.schema import AXES, TIME_COLUMN
from pm_pipeline.core.simulation.sample import write_export

HEADER = '"Trait",' + ",".join(f'"Axis #{i}"' for i in range(1, 15)) + ',"Time"\n'


def row(values: list[str], stamp: str = "2022-10-17T12:00:00.000Z") -> str:
    return '"current",' + ",".join(values + [""] * (14 - len(values))) + f',"{stamp}"\n'


ZEROS = ["0"] * 8
GOOD = HEADER + row(["1.5", *["0"] * 7]) + row(ZEROS, "2022-10-17T12:00:02.000Z")


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, newline="")
    return path


ERRORS = {
    "zero-bytes": ("", "the file is empty"),
    "header-only": (HEADER, "has a header but no readings"),
    "renamed-time": (HEADER.replace('"Time"', '"Zeit"') + row(ZEROS), "no time column"),
    "missing-axis": (
        HEADER.replace('"Axis #8"', '"Motor 8"') + row(ZEROS),
        "missing current column(s) axis_8",
    ),
    "bad-time": (HEADER + row(ZEROS, "17/10/2022 noon"), "cannot read timestamp"),
    "word-current": (HEADER + row(["abc", *ZEROS[1:]]), "is not a number"),
    "absurd-current": (HEADER + row(["1e308", *ZEROS[1:]]), "is beyond ±100000 A"),
    "six-axes": (
        "time," + ",".join(AXES[:6]) + "\n2022-10-17T12:00:00Z,1,2,3,4,5,6\n",
        "missing current column(s) axis_7, axis_8",
    ),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10, "binary data"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_bad_exports_raise_a_clear_error(tmp_path: Path, case: str) -> None:
    content, message = ERRORS[case]
    path = write(tmp_path, "export.csv", content)
    with pytest.raises(PipelineError, match=re.escape(message)) as raised:
        read_export(path)
    assert str(path) in str(raised.value)


def test_no_load_words_are_null_and_negatives_are_kept(tmp_path: Path) -> None:
    text = HEADER + row(["", "NaN", "NULL", "null", "-1.5", "0", "0", "2"])
    frame = read_export(write(tmp_path, "a.csv", text))
    first = frame.to_dict("records")[0]
    assert all(np.isnan(first[axis]) for axis in AXES[:4])
    assert first["axis_5"] == -1.5  # signed currents are passed through as measured


def test_time_order_repeats_and_zones(tmp_path: Path) -> None:
    text = (
        HEADER
        + row(ZEROS, "2022-10-17T12:00:04Z")
        + row(ZEROS, "2022-10-17T12:00:02Z")
        + row(ZEROS, "2022-10-17T12:00:02Z")
        + row(ZEROS, "2022-10-17T14:00:06+02:00")
        + row(ZEROS, "2022-10-17T12:00:08")
    )
    times = read_export(write(tmp_path, "a.csv", text))[TIME_COLUMN]
    # File order is kept (scoring sorts; ingest keeps the first of repeated instants);
    # offsets become UTC and a time without one is read as UTC.
    assert [t.strftime("%H:%M:%S") for t in times] == [
        "12:00:04",
        "12:00:02",
        "12:00:02",
        "12:00:06",
        "12:00:08",
    ]
    assert str(times.dt.tz) == "UTC"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bom.csv", ("\ufeff" + GOOD).encode()),
        ("crlf.csv", GOOD.replace("\n", "\r\n").encode()),
        ("semicolon.csv", GOOD.replace(",", ";").replace("1.5", "1,5").encode()),
        ("gzip-named.csv", gzip.compress(GOOD.encode())),
        ("export.csv.gz", gzip.compress(GOOD.encode())),
    ],
)
def test_encodings_separators_and_compression(tmp_path: Path, name: str, content: bytes) -> None:
    frame = read_export(write(tmp_path, name, content))
    assert len(frame) == 2 and frame.loc[0, "axis_1"] == 1.5


def test_fourteen_axes_keep_eight(tmp_path: Path) -> None:
    frame = read_export(write(tmp_path, "a.csv", HEADER + row([str(i) for i in range(14)])))
    assert list(frame.columns) == [TIME_COLUMN, *AXES]
    assert frame.loc[0, "axis_8"] == 7.0


currents = st.one_of(st.none(), st.floats(min_value=0, max_value=60, allow_nan=False))


# derandomize: CI sees the same examples every run; fuzz harder by hand when changing the parser.
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(st.lists(currents, min_size=8, max_size=8), min_size=1, max_size=30),
    steps=st.lists(st.floats(min_value=0.5, max_value=500), min_size=30, max_size=30),
)
def test_written_exports_read_back_the_same(tmp_path: Path, rows: list, steps: list) -> None:
    times = pd.Timestamp("2022-10-17T12:00:00Z") + pd.to_timedelta(
        np.cumsum(steps[: len(rows)]).round(3), unit="s"
    )
    frame = pd.DataFrame(rows, columns=list(AXES), dtype="float64")
    frame.insert(0, TIME_COLUMN, pd.Series(times).dt.as_unit("us"))
    path = tmp_path / "roundtrip.csv"
    write_export(frame, path)
    back = read_export(path)
    pd.testing.assert_frame_equal(back, frame, check_exact=False, rtol=1e-9)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    content=st.one_of(st.binary(max_size=300), st.text(max_size=300)),
    keep_header=st.booleans(),
)
@example(content=b'"', keep_header=False)  # an unclosed quote once escaped as ParserError
def test_garbage_never_escapes_as_anything_but_a_clear_error(
    tmp_path: Path, content: bytes | str, keep_header: bool
) -> None:
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    path = tmp_path / "garbage.csv"
    path.write_bytes((HEADER.encode() if keep_header else b"") + data)
    try:
        frame = read_export(path)
    except PipelineError:
        return
    assert list(frame.columns) == [TIME_COLUMN, *AXES]
