"""The newest-landed-fault promotion check, on both databases: what it compares, and when
there is nothing to compare."""

import pandas as pd

from pm_pipeline.core.detection.registry import detect_events, fit_model
from pm_pipeline.core.model.params import RobustSettings
from pm_pipeline.core.model.trained import fit_minmax_scaling
from pm_pipeline.core.schema import TIME_COLUMN
from pm_pipeline.core.simulation.sample import SampleFault, inject_wear
from pm_pipeline.db.engine import open_engine
from pm_pipeline.db.events import replace_events
from pm_pipeline.db.ingest import ingest_readings
from pm_pipeline.db.registry import activate_model, register_model
from pm_pipeline.db.robot_store import RobotStore
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.promotion import check_newest_landed_fault


def test_the_check_compares_both_models_on_the_newest_landed_file(
    database_url: str, robot_day: pd.DataFrame
) -> None:
    engine, table = open_engine(database_url), readings_table()
    times = robot_day[TIME_COLUMN]
    split = times.iloc[0] + pd.Timedelta(hours=6)
    history, later = robot_day[times < split], robot_day[times >= split]
    fault = SampleFault(
        "axis_2", 1.8, split + pd.Timedelta(minutes=30), split + pd.Timedelta(minutes=50)
    )
    landed = inject_wear(later, fault)
    ingest_readings(engine, table, history, "r1", "history.csv", "h")
    ingest_readings(engine, table, landed, "r1", "landed.csv", "l")
    active = fit_model(history, fit_minmax_scaling(history), RobustSettings())
    dull = fit_model(history, fit_minmax_scaling(history), RobustSettings(z_alert=15, z_error=20))
    sharp = fit_model(history, fit_minmax_scaling(history), RobustSettings(z_alert=2.5))

    first = check_newest_landed_fault(RobotStore(engine, table, "r1"), active)
    assert first.passed and first.summary == "robot r1 has no active model to compare with yet"
    register_model(engine, active, "r1", None, {})
    activate_model(engine, active.version, "r1", "test")
    itself = check_newest_landed_fault(RobotStore(engine, table, "r1"), active)
    assert (
        itself.passed and itself.summary == f"the candidate is the active version {active.version}"
    )
    quiet = check_newest_landed_fault(RobotStore(engine, table, "r1"), dull)
    assert quiet.passed and quiet.summary == "no landed file of robot r1 has events yet"

    flagged = detect_events(active, landed)
    assert flagged["axis"].tolist() == ["axis_2"]
    replace_events(engine, "landed.csv", flagged, active.version, None, "r1")
    missed = check_newest_landed_fault(RobotStore(engine, table, "r1"), dull)
    assert not missed.passed and missed.source == "landed.csv"
    assert missed.active_events[["axis", "caught"]].values.tolist() == [["axis_2", False]]
    assert missed.candidate_events.empty
    caught = check_newest_landed_fault(RobotStore(engine, table, "r1"), sharp)
    assert caught.passed and caught.active_events["caught"].all()
    # Another robot's newer events change nothing for r1.
    day_later = flagged.assign(start=flagged["start"] + pd.Timedelta(days=1))
    day_later["end"] = flagged["end"] + pd.Timedelta(days=1)
    register_model(engine, active, "r2", None, {})  # a version is named with its robot
    replace_events(engine, "other.csv", day_later, active.version, None, "r2")
    assert check_newest_landed_fault(RobotStore(engine, table, "r1"), dull).source == "landed.csv"

    # A file stored under another name than its events' source: the readings around its
    # events are compared instead of the file's span.
    replace_events(engine, "renamed.csv", flagged, active.version, None, "r1")
    renamed = check_newest_landed_fault(RobotStore(engine, table, "r1"), dull)
    assert not renamed.passed and renamed.source == "renamed.csv"
    assert renamed.active_events["axis"].tolist() == ["axis_2"]
