"""Checks `train` and `score` make on our tables before they load Dagster (2 s): a mode that
cannot fit the robot's data, a window too short, or no model to score with is one `error:`
line at once, not a failed run seconds later."""

from __future__ import annotations

import argparse

from pm_pipeline.cli.robot_choice import chosen_robot
from pm_pipeline.core.detection.fit_check import check_mode_fits
from pm_pipeline.core.errors import DatabaseUnavailable
from pm_pipeline.db.migrate import open_configured_store
from pm_pipeline.db.registry import active_model_version, load_model
from pm_pipeline.db.schema import DEFAULT_READINGS_TABLE, DEFAULT_TIME_COLUMN, readings_table
from pm_pipeline.services.sources import configured_source
from pm_pipeline.services.training import TrainingWindow, probe_training_window


def check_training(args: argparse.Namespace) -> None:
    """Raise a PipelineError when the configured mode cannot train on the robot's window.

    With a source table configured the window is filled from it during the run, so only
    what is already stored could be checked: the run checks it instead.
    """
    settings = args.settings
    if configured_source(settings) is not None:
        return
    robot = chosen_robot(args)
    engine = open_configured_store(settings)
    table = readings_table(DEFAULT_READINGS_TABLE, DEFAULT_TIME_COLUMN)
    window = TrainingWindow(args.start, args.end, args.last_days, args.limit)
    needed = args.min_rows or settings.min_training_rows
    probe = probe_training_window(engine, table, robot, window, needed)
    check_mode_fits(settings.detector_mode, robot, probe.axes, probe.held, needed, probe.cadence_s)


def check_scoring_model(args: argparse.Namespace) -> None:
    """Raise a PipelineError when there is no model to score the robot's file with: no
    active version, or an unknown ``--model-version``. A store that cannot be reached now
    is left to the run, which retries an outage."""
    robot = chosen_robot(args)
    try:
        engine = open_configured_store(args.settings)
    except DatabaseUnavailable:
        return
    if args.model_version:
        load_model(engine, args.model_version)
    else:
        active_model_version(engine, robot)
