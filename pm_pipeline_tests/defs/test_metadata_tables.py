"""Tables shown in the Dagster UI keep text as it is stored: a model version or a robot id
made of digits is not read as a number."""

import pandas as pd

from pm_pipeline.defs.metadata import table_markdown


def test_text_that_looks_like_a_number_is_shown_as_stored() -> None:
    frame = pd.DataFrame(
        {
            "robot_id": ["0042", "0043"],
            "model_version": ["1234567890e1", "000000000001"],
            "z_peak": [3.14159265, 12.0],
            "n_samples": [5, 6],
        }
    )
    shown = str(table_markdown(frame).value)
    for text in ("0042", "0043", "1234567890e1", "000000000001"):
        assert f"| {text} " in shown, shown
    assert "1.23457e+10" not in shown
    # Numbers still get six significant digits, right-aligned.
    assert "3.14159 |" in shown and "| 3.14159265" not in shown
    assert shown.splitlines()[1] == "|:-----------|:----------------|---------:|------------:|"


def test_a_table_of_no_rows_shows_its_header() -> None:
    frame = pd.DataFrame(
        {"robot_id": pd.Series([], dtype=object), "events": pd.Series([], dtype=int)}
    )
    assert str(table_markdown(frame).value).splitlines()[0] == "| robot_id   | events   |"
