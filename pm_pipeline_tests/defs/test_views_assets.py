"""The views the UI shows about events: the robot's open events as a table, and plots small
enough to be seen on the asset page; the synthetic verification set counted in neither."""

import re
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import dagster as dg
import pandas as pd

from pm_pipeline.core.detection.registry import fit_model
from pm_pipeline.core.model.params import SeedSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import SYNTHETIC_SOURCE, synthetic_source
from pm_pipeline.core.views.health import measure_data_health
from pm_pipeline.core.views.inline import INLINE_LIMIT
from pm_pipeline.db.events import read_events, replace_events
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.readings import read_readings
from pm_pipeline.db.registry import register_model
from pm_pipeline.defs.assets import VIEW_ASSETS
from pm_pipeline.defs.assets.views import axis_summary, data_health, events_summary, open_events
from pm_pipeline.defs.io_manager import pipeline_resources
from pm_pipeline.defs.resources import ReadingsDatabaseResource
from pm_pipeline_tests.cli.test_events_command import event
from pm_pipeline_tests.defs.test_materialize import latest
from pm_pipeline_tests.partitioned import ROBOT, materialize_robot


def inline_svg(value: dg.MetadataValue) -> ET.Element:
    """The SVG inside a markdown image the UI shows in place (shorter than its limit)."""
    assert isinstance(value, dg.MarkdownMetadataValue)
    text = value.value
    assert len(text) < INLINE_LIMIT, len(text)
    match = re.fullmatch(r"!\[[^\]]*\]\(<data:image/svg\+xml,([^<>\n]*)>\)", text)
    assert match is not None, text[:200]
    return ET.fromstring(urllib.parse.unquote(match.group(1)))


def test_open_events_and_the_summary_count_landed_files_only(
    tmp_path: Path, database: ReadingsDatabaseResource
) -> None:
    engine, robot = database.engine(), ROBOT
    readings = read_readings(engine, database.table(), robot)
    model = fit_model(readings, fit_minmax_scaling(readings), SeedSettings())
    register_model(engine, model, robot, "run-train", {})
    newest = readings["timestamp_recorded"].max()
    stored = pd.DataFrame(
        [
            event("axis_1", "ALERT", newest - pd.Timedelta(hours=4), 5),  # long over
            event("axis_2", "ERROR", newest - pd.Timedelta(minutes=10), 10),  # open
        ]
    )
    replace_events(
        engine, "landed.csv", stored, model.version, "run-a", robot, ["resolved", "open"]
    )
    # Both spellings of the synthetic set, open too: neither view may count them.
    for source in (SYNTHETIC_SOURCE, synthetic_source(model.version)):
        replace_events(engine, source, stored, model.version, "run-s", robot)
    with dg.instance_for_test() as instance:
        assert materialize_robot(
            VIEW_ASSETS, resources=pipeline_resources(database), instance=instance
        ).success
        opened = latest(instance, open_events.key).metadata
        summary = latest(instance, events_summary.key).metadata
        health = latest(instance, data_health.key).metadata
    landed = read_events(engine, "landed.csv", robot)
    assert opened["dagster/row_count"].value == 1
    assert opened["robot"].value == robot and opened["errors"].value == 1
    table = opened["open_events"]
    assert isinstance(table, dg.TableMetadataValue)
    [row] = [record.data for record in table.records]
    assert row["event_id"] == int(landed["event_id"].iloc[1])
    assert (row["axis"], row["severity"], row["source"]) == ("axis_2", "ERROR", "landed.csv")
    assert row["last_seen"] == landed["end_ts"].iloc[1].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["model_version"] == model.version

    assert summary["events"].value == 2
    chart = inline_svg(summary["events_per_hour"])
    heading = "".join(chart.itertext())
    assert "landed-file events per 1 h" in heading and "ERROR" in heading
    strokes = [path.get("stroke") for path in chart.iter("{http://www.w3.org/2000/svg}path")]
    assert "orange" in strokes and "crimson" in strokes  # one ALERT and one ERROR bar
    assert "readings" in "".join(inline_svg(health["readings_per_hour"]).itertext())


def test_only_synthetic_events_leave_both_views_empty(
    tmp_path: Path, database: ReadingsDatabaseResource
) -> None:
    engine, robot = database.engine(), ROBOT
    readings = read_readings(engine, database.table(), robot)
    model = fit_model(readings, fit_minmax_scaling(readings), SeedSettings())
    register_model(engine, model, robot, "run-train", {})
    start = readings["timestamp_recorded"].max() - pd.Timedelta(minutes=5)
    synthetic = pd.DataFrame([event("axis_2", "ERROR", start, 5)])
    replace_events(engine, synthetic_source(model.version), synthetic, model.version, "s", robot)
    with dg.instance_for_test() as instance:
        assert materialize_robot(
            [open_events, events_summary],
            resources=pipeline_resources(database),
            instance=instance,
        ).success
        opened = latest(instance, open_events.key).metadata
        summary = latest(instance, events_summary.key).metadata
    assert opened["dagster/row_count"].value == 0
    table = opened["open_events"]
    assert isinstance(table, dg.TableMetadataValue) and table.records == []
    assert summary["events"].value == 0
    chart = inline_svg(summary["events_per_hour"])
    strokes = {path.get("stroke") for path in chart.iter("{http://www.w3.org/2000/svg}path")}
    assert strokes == {"gray"}  # the axes, and no bar


def test_health_and_summary_count_every_reading_from_the_rollups(
    database: ReadingsDatabaseResource,
) -> None:
    """Readings a month older than the newest week count in the rows, the hourly chart and
    the per-axis history (read from the rollups), not in the raw-reading figures."""
    engine, robot = database.engine(), ROBOT
    recent = read_readings(engine, database.table(), robot)
    old = recent.head(600).assign(
        timestamp_recorded=recent["timestamp_recorded"].head(600) - pd.Timedelta(days=30)
    )
    ingest_readings(engine, database.table(), old, robot, "old.csv", "old")
    with dg.instance_for_test() as instance:
        assert materialize_robot(
            [data_health, axis_summary], resources=pipeline_resources(database), instance=instance
        ).success
        health = latest(instance, data_health.key).metadata
        summary = latest(instance, axis_summary.key).metadata
    assert health["dagster/row_count"].value == len(recent) + len(old)
    span = recent["timestamp_recorded"].max() - old["timestamp_recorded"].min()
    assert health["span_s"].value == span.total_seconds()
    # The month between is no gap: it is older than the recent week the gaps are found in.
    assert health["gaps"].value == len(measure_data_health(recent).gaps)
    history = str(summary["history"].value)
    with_values = int(pd.concat([recent, old])["axis_1"].notna().sum())
    assert re.search(rf"\| axis_1 \|\s+{with_values} \|", history), history
