"""Views group: data health, per-axis summary and events over time, a partition per robot.

Each view that draws a PNG imports :mod:`pm_pipeline.core.views.plots` (matplotlib, 0.4 s of
CPU) when it draws: the code server, the sensors and every scoring run load this module too.
"""

import warnings
from collections.abc import Callable
from functools import partial

import dagster as dg

from pm_pipeline.core.views.health import (
    count_events_over_time,
    count_severities_per_hour,
    find_one_minute_peak,
    measure_data_health,
    rank_top_events,
    summarise_axes,
)
from pm_pipeline.core.views.history import RECENT_DAYS, with_history
from pm_pipeline.core.views.inline import bars_markdown, stacked_counts_markdown
from pm_pipeline.db.events import open_events as still_open
from pm_pipeline.db.events import read_events, robot_events
from pm_pipeline.db.readings import read_recent_readings, readings_bounds, skipped_duplicates
from pm_pipeline.db.rollups import read_minute_counts, summarise_rollups
from pm_pipeline.defs.assets.scoring import file_events
from pm_pipeline.defs.automation import deps_updated
from pm_pipeline.defs.event_metadata import (
    OPEN_EVENTS_SCHEMA,
    SEVERITY_COLORS,
    open_events_table,
)
from pm_pipeline.defs.metadata import table_markdown
from pm_pipeline.defs.partitions import SAME_ROBOT, robots_partitions
from pm_pipeline.defs.resources import ReadingsDatabaseResource

# Refreshed once the events of any landed file are stored, whether other files are still
# being scored or some file's partition never succeeded (a quarantined file stays missing).
EVENTS_STORED = (deps_updated() & ~dg.AutomationCondition.in_progress()).with_label("events stored")


# Several robots' views refresh in one run (a range of robots) when several are due at once.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)  # backfill_policy, as on file_events
    view = dg.asset(
        group_name="views",
        partitions_def=robots_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    # A robot's views of its events: they follow its files' events, refreshed when stored.
    events_view = dg.asset(
        group_name="views",
        deps=[dg.AssetDep(file_events, partition_mapping=SAME_ROBOT)],
        automation_condition=EVENTS_STORED,
        partitions_def=robots_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )


def _each_robot(
    context: dg.AssetExecutionContext, robot_view: Callable[[str], dict]
) -> dg.MaterializeResult:
    """The view of each robot of the run, as that robot's partition's metadata."""
    for robot in context.partition_keys:
        context.add_asset_metadata(robot_view(robot), partition_key=robot)
    return dg.MaterializeResult()


@view
def data_health(
    context: dg.AssetExecutionContext, readings_db: ReadingsDatabaseResource
) -> dg.MaterializeResult:
    """Coverage of the robot's stored readings: rows, time span, cadence, gaps, idle and NULL
    shares, and the duplicates ingest skipped."""
    return _each_robot(context, partial(_data_health, readings_db))


def _data_health(readings_db: ReadingsDatabaseResource, robot: str) -> dict:
    engine, table = readings_db.engine(), readings_db.table()
    recent = measure_data_health(read_recent_readings(engine, table, robot, RECENT_DAYS))
    first, last = readings_bounds(engine, table, robot)
    health = with_history(recent, read_minute_counts(engine, robot), first, last)
    from pm_pipeline.core.views.plots import plot_bars_png, png_markdown

    plot = plot_bars_png(health.readings_per_hour, "readings per hour (UTC)", "readings")
    return {
        "readings_per_hour": dg.MetadataValue.md(
            bars_markdown(health.readings_per_hour, "readings")
        ),
        "dagster/row_count": int(health.rows),
        "span_s": float(health.span_s),
        # Rows, span and the hourly counts cover every reading (from the 1-minute rollups);
        # the figures below need raw readings and cover the newest days only.
        "recent_days": float(RECENT_DAYS),
        "cadence_median_s": float(health.cadence_median_s),
        "cadence_p95_s": float(health.cadence_p95_s),
        "idle_share": float(health.idle_share),
        "gaps": len(health.gaps),
        "longest_gap_s": float(health.gaps["seconds"].max()) if len(health.gaps) else 0.0,
        "skipped_duplicates": skipped_duplicates(engine, robot),
        "figures": table_markdown(health.figures()),
        "longest_gaps": table_markdown(health.gaps.nlargest(20, "seconds")),
        "plot_readings_per_hour": dg.MetadataValue.md(png_markdown(plot, "per hour")),
    }


@view
def axis_summary(
    context: dg.AssetExecutionContext, readings_db: ReadingsDatabaseResource
) -> dg.MaterializeResult:
    """Per axis over the newest week: min, mean, p95 and max current, active share, active
    ampere-seconds and the latest reading; min, mean and max over every stored reading; and
    the axis with the highest current in the last minute of data."""
    return _each_robot(context, partial(_axis_summary, readings_db))


def _axis_summary(readings_db: ReadingsDatabaseResource, robot: str) -> dict:
    engine = readings_db.engine()
    readings = read_recent_readings(engine, readings_db.table(), robot, RECENT_DAYS)
    summary = summarise_axes(readings)
    peak = find_one_minute_peak(readings)
    from pm_pipeline.core.views.plots import plot_bars_png, png_markdown

    plot = plot_bars_png(summary.set_index("axis")["p95_A"], "p95 current per axis", "A")
    return {
        "summary": table_markdown(summary),
        "recent_days": float(RECENT_DAYS),
        "history": table_markdown(summarise_rollups(engine, robot)),
        "one_minute_peak": f"{peak[0]} at {peak[1]:.3f} A ({peak[2].isoformat()})"
        if peak
        else "no readings",
        "plot_p95_current": dg.MetadataValue.md(png_markdown(plot, "p95 current")),
    }


@events_view
def events_summary(
    context: dg.AssetExecutionContext, readings_db: ReadingsDatabaseResource
) -> dg.MaterializeResult:
    """The robot's landed-file events per hour and severity, and the strongest events with the
    model version that raised each (the synthetic verification set is left out)."""
    return _each_robot(context, partial(_events_summary, readings_db))


def _events_summary(readings_db: ReadingsDatabaseResource, robot: str) -> dict:
    engine = readings_db.engine()
    events = read_events(engine, robot_id=robot, landed_only=True)
    first, last = readings_bounds(engine, readings_db.table(), robot)
    per_hour = count_severities_per_hour(events, first, last)
    counts = count_events_over_time(events)
    metadata: dict = {
        "events": len(events),
        "top_events": table_markdown(rank_top_events(events)),
    }
    if len(per_hour):
        metadata["events_per_hour"] = dg.MetadataValue.md(
            stacked_counts_markdown(per_hour, "landed-file events", SEVERITY_COLORS)
        )
    if not counts.empty:
        from pm_pipeline.core.views.plots import plot_stacked_counts_png, png_markdown

        plot = plot_stacked_counts_png(counts, "landed-file events per hour (UTC)")
        metadata["plot_events_over_time"] = dg.MetadataValue.md(png_markdown(plot, "events"))
    return metadata


@events_view
def open_events(
    context: dg.AssetExecutionContext, readings_db: ReadingsDatabaseResource
) -> dg.MaterializeResult:
    """The robot's events still going where its readings end: axis, severity, start, last
    seen, peak z, model version and the file they came from."""
    return _each_robot(context, partial(_open_events, readings_db))


def _open_events(readings_db: ReadingsDatabaseResource, robot: str) -> dict:
    found = still_open(robot_events(readings_db.engine(), robot))
    return {
        "robot": robot,
        "dagster/row_count": len(found),
        "dagster/column_schema": OPEN_EVENTS_SCHEMA,
        "open_events": open_events_table(found),
        "errors": int((found["severity"] == "ERROR").sum()),
    }
