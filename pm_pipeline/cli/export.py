"""`pm-pipeline export --out DIR`: readings, summaries and events as CSV and one workbook."""

import argparse
from pathlib import Path

import pandas as pd

from pm_pipeline.cli.progress import progress_bar
from pm_pipeline.cli.robot_choice import chosen_robot
from pm_pipeline.core.detection.contributions import top_contributors
from pm_pipeline.core.feedback.labels import label_of, newest_labels
from pm_pipeline.core.schema import is_synthetic_source
from pm_pipeline.core.views.cells import neutralise_formulas
from pm_pipeline.core.views.health import measure_data_health, rank_top_events, summarise_axes
from pm_pipeline.db.events import read_events
from pm_pipeline.db.feedback import read_labels
from pm_pipeline.db.migrate import open_configured_store
from pm_pipeline.db.readings import iter_readings_pages, read_readings, readings_span
from pm_pipeline.db.schema import readings_table

SAMPLE_ROWS = 1000
LATEST_ROWS = 20


def export(args: argparse.Namespace) -> int:
    engine, table = open_configured_store(args.settings), readings_table()
    robot = chosen_robot(args)
    out: Path = args.out
    pages = out / "readings"
    pages.mkdir(parents=True, exist_ok=True)
    rows, _, _ = readings_span(engine, table, robot)
    with progress_bar(rows, "rows", "exporting readings") as bar:
        for number, page in enumerate(
            iter_readings_pages(engine, table, robot, args.page_rows), start=1
        ):
            _csv(page, pages / f"readings_{number:04d}.csv")
            bar.update(len(page))
    readings = read_readings(engine, table, robot)
    health = measure_data_health(readings)
    landed = read_events(engine, robot_id=robot, landed_only=True)
    events = read_events(engine, robot_id=robot) if args.include_synthetic else landed
    tables = {
        "data_health": health.figures(),
        "gaps": health.gaps,
        "axis_summary": summarise_axes(readings),
        "latest_readings": readings.tail(LATEST_ROWS),
        "events": with_feedback(labelled(events), read_labels(engine, robot)),
        # A summary describes the robot's landed files, with or without --include-synthetic.
        "top_events": rank_top_events(landed),
    }
    for name, frame in tables.items():
        _csv(frame, out / f"{name}.csv")
    workbook = out / "pm_pipeline_summary.xlsx"
    with pd.ExcelWriter(workbook, engine="openpyxl") as writer:
        for name in ("data_health", "gaps", "axis_summary", "top_events", "latest_readings"):
            _naive(tables[name]).to_excel(writer, sheet_name=name, index=False)
        _naive(readings.head(SAMPLE_ROWS)).to_excel(
            writer, sheet_name="readings_sample", index=False
        )
    synthetic = len(events) - len(landed)
    print(
        f"exported {rows} readings in {max(-(-rows // args.page_rows), 0)} page(s), "
        f"{len(landed)} landed-file events"
        + (f" and {synthetic} synthetic verification events" if args.include_synthetic else "")
        + f" and the summaries to {out} (workbook {workbook.name})"
    )
    return 0


def labelled(events: pd.DataFrame) -> pd.DataFrame:
    """``events`` with an ``origin`` column beside ``source``: a landed file, or the synthetic
    verification set that checked a model version before it was promoted; and the top
    ``contributions`` in words (``axis_2 62%, axis_1 30%``)."""
    origin = events["source"].map(
        lambda source: (
            "synthetic verification set" if is_synthetic_source(str(source)) else "landed file"
        )
    )
    channels = [
        top_contributors(value, str(axis))
        for value, axis in zip(events["contributions"], events["axis"], strict=True)
    ]
    return events.assign(
        origin=origin.astype("string"), top_contributors=pd.Series(channels, dtype="string")
    )


EVENT_COLUMNS_FIRST = ["event_id", "robot_id", "axis", "severity", "status", "change", "label"]


def with_feedback(events: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """``events`` with ``change`` (its latest lifecycle change: opened, escalated or
    resolved) and ``label`` (its newest label, empty when none; matched as training matches
    it, so a rescored event keeps its label), the identifying columns first. Only landed
    files' events are labelled; a synthetic set's never are."""
    landed = ~events["source"].map(is_synthetic_source).astype(bool)
    label = label_of(events, newest_labels(labels)).where(landed)
    change = events["status"].where(
        events["status"] == "resolved",
        events["severity"].map({"ERROR": "escalated"}).fillna("opened"),
    )
    out = events.assign(change=change, label=label.fillna(""))
    return out[EVENT_COLUMNS_FIRST + [c for c in out.columns if c not in EVENT_COLUMNS_FIRST]]


def _csv(frame: pd.DataFrame, path: Path) -> None:
    """Write timestamps as ISO 8601 UTC with a Z, like every other file the project writes;
    text that a spreadsheet would run as a formula is neutralised."""
    out = neutralise_formulas(frame)
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    temporary = path.with_name(path.name + ".tmp")
    out.to_csv(temporary, index=False)
    temporary.replace(path)


def _naive(frame: pd.DataFrame) -> pd.DataFrame:
    """Spreadsheets hold no time zones: show UTC wall-clock times. Text that would run as a
    formula is neutralised."""
    out = neutralise_formulas(frame)
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return out
