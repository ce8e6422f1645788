"""Inline plots stay under the UI's inline limit, whatever the span, and say what they draw;
the detector's statistic is the score its events come from."""

import re
import urllib.parse
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from pm_pipeline.core.detection.registry import detect_events, fit_model, model_detector
from pm_pipeline.core.model.params import RobustSettings, SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.views.health import count_severities_per_hour
from pm_pipeline.core.views.inline import (
    INLINE_LIMIT,
    Level,
    bars_markdown,
    peak_line_markdown,
    stacked_counts_markdown,
)
from pm_pipeline_tests.conftest import worn_slice

SVG = "{http://www.w3.org/2000/svg}"
COLORS = {"ALERT": "orange", "ERROR": "crimson"}


def svg_of(markdown: str) -> ET.Element:
    assert len(markdown) < INLINE_LIMIT, len(markdown)
    match = re.fullmatch(r"!\[[^\]]*\]\(<data:image/svg\+xml,([^<>\n]*)>\)", markdown)
    assert match is not None, markdown[:200]
    return ET.fromstring(urllib.parse.unquote(match.group(1)))


def text_of(svg: ET.Element) -> str:
    return " ".join("".join(svg.itertext()).split())


def drawn_columns(svg: ET.Element, color: str) -> int:
    paths = [p.get("d", "") for p in svg.iter(f"{SVG}path") if p.get("stroke") == color]
    return sum(path.count("M") for path in paths)


@pytest.mark.parametrize("hours", [26, 24 * 7, 24 * 365])
def test_events_per_hour_fit_inline_and_merge_hours_when_they_must(hours: int) -> None:
    index = pd.date_range("2026-01-05T06:00Z", periods=hours, freq="1h")
    counts = pd.DataFrame({"ALERT": 0, "ERROR": 0}, index=index)
    counts.iloc[::3, 0] = 2  # an ALERT every third hour: a worst case for the path's length
    counts.iloc[-1, 1] = 1
    svg = svg_of(stacked_counts_markdown(counts, "landed-file events", COLORS))
    heading = re.search(r"landed-file events per (\d+) h \(UTC\) ALERT ERROR", text_of(svg))
    assert heading is not None, text_of(svg)
    per = int(heading.group(1))
    assert (per == 1) == (hours == 26)  # a day's hours fit one by one
    assert drawn_columns(svg, "crimson") == 1
    assert drawn_columns(svg, "orange") == len({hour // per for hour in range(0, hours, 3)})
    assert "01-05 06:00" in text_of(svg)


def test_no_events_draws_axes_only() -> None:
    index = pd.date_range("2026-01-05T06:00Z", periods=5, freq="1h")
    svg = svg_of(stacked_counts_markdown(pd.DataFrame(index=index), "events", COLORS))
    assert drawn_columns(svg, "orange") == drawn_columns(svg, "crimson") == 0


def test_bars_fit_inline() -> None:
    index = pd.date_range("2026-01-05T06:00Z", periods=200, freq="1h")
    svg = svg_of(bars_markdown(pd.Series(1800.0, index=index), "readings"))
    assert "readings per" in text_of(svg) and drawn_columns(svg, "steelblue") >= 20


def test_severities_per_hour_cover_the_whole_span() -> None:
    events = pd.DataFrame(
        {
            "start_ts": pd.to_datetime(["2026-01-05T07:10Z", "2026-01-05T07:50Z"], utc=True),
            "severity": ["ALERT", "ERROR"],
        }
    )
    first, last = pd.Timestamp("2026-01-05T05:59Z"), pd.Timestamp("2026-01-05T10:30Z")
    counts = count_severities_per_hour(events, first, last)
    hour = counts.index.get_loc(pd.Timestamp("2026-01-05T07:00Z"))
    assert len(counts) == 6 and counts.to_numpy()[hour].tolist() == [1, 1]
    assert int(counts.to_numpy().sum()) == 2
    assert count_severities_per_hour(events.iloc[0:0], None, None).empty


@pytest.mark.parametrize("settings", [SeedSettings(), RobustSettings()], ids=["seed", "robust"])
def test_the_statistic_peaks_in_the_fault_and_draws_inline(
    robot_day: pd.DataFrame, settings: SeedSettings | RobustSettings
) -> None:
    training = robot_day[
        robot_day[TIME_COLUMN] < robot_day[TIME_COLUMN].iloc[0] + pd.Timedelta(hours=6)
    ]
    model = fit_model(training, fit_minmax_scaling(training), settings)
    worn = worn_slice(robot_day, after_hours=6)
    statistic = model_detector(model).statistic(model, worn)
    assert set(statistic) == set(model.axis_names)
    events = detect_events(model, worn)
    error = events[events["severity"] == "ERROR"].iloc[0]
    z = statistic[error["axis"]]
    inside = z[(z[TIME_COLUMN] >= error["start"]) & (z[TIME_COLUMN] <= error["end"])]["z"]
    # The event's peak is the statistic's highest value inside it.
    assert inside.max() == pytest.approx(error["z_peak"])
    limits = model.axes[error["axis"]].thresholds
    levels = [Level(limits.z_alert, "ALERT", "orange"), Level(limits.z_error, "ERROR", "crimson")]
    svg = svg_of(peak_line_markdown(z[TIME_COLUMN], z["z"].to_numpy(), "score", levels))
    line = [p.get("d", "") for p in svg.iter(f"{SVG}path") if p.get("stroke") == "steelblue"]
    assert len(line) == 1 and line[0].startswith("M")
    assert "ALERT" in text_of(svg) and "ERROR" in text_of(svg)


def test_a_gap_breaks_the_line() -> None:
    times = pd.Series(pd.date_range("2026-01-05", periods=1000, freq="2s"))
    values = np.ones(1000)
    values[400:600] = np.nan
    svg = svg_of(peak_line_markdown(times, values, "score", []))
    [line] = [p.get("d", "") for p in svg.iter(f"{SVG}path") if p.get("stroke") == "steelblue"]
    assert line.count("M") == 2
