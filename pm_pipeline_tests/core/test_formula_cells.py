"""Text a spreadsheet would run as a formula is neutralised in exports (OWASP: a leading
single quote); numbers, negative ones included, stay numbers."""

import pandas as pd

from pm_pipeline.core.views.cells import neutralise_cell, neutralise_formulas

DANGEROUS = ['=HYPERLINK("evil.invalid","open")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
             "\t=1", "\r=1"]  # fmt: skip


def test_text_that_would_run_is_prefixed_with_a_quote() -> None:
    for text in DANGEROUS:
        assert neutralise_cell(text) == "'" + text


def test_numbers_and_plain_text_are_left_alone() -> None:
    for value in (-3.5, -1, 0, "-3.5", "+2", "-1e-5", "landed.csv", "a=b", None, pd.NaT):
        assert neutralise_cell(value) is value


def test_a_frame_keeps_its_number_columns_and_types() -> None:
    frame = pd.DataFrame(
        {
            "source": pd.array(["=1+1", "ok.csv", None], dtype="string"),
            "note": ["@x", "fine", "-2+3"],
            "z_mean": [-4.5, 3.0, -0.1],
            "start": pd.to_datetime(["2026-01-05"] * 3, utc=True),
        }
    )
    out = neutralise_formulas(frame)
    assert list(out["source"].fillna("<NA>")) == ["'=1+1", "ok.csv", "<NA>"]
    assert list(out["note"]) == ["'@x", "fine", "'-2+3"]
    assert out.dtypes.equals(frame.dtypes)
    assert out["z_mean"].equals(frame["z_mean"])
    assert frame["source"].iloc[0] == "=1+1"  # the caller's frame is not changed
