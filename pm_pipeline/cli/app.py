"""The ``pm-pipeline`` command: the entry point, and the ``ingest`` handler.

Only the standard library is imported here and in :mod:`pm_pipeline.cli.parser`: a command's
handler module, with pandas, SQLAlchemy and Dagster behind it, is imported when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pm_pipeline.cli.parser import build_parser
from pm_pipeline.cli.paths import check_paths
from pm_pipeline.core.errors import PipelineError

if TYPE_CHECKING:
    from pm_pipeline.core.parsing.format import ExportFormat
    from pm_pipeline.defs.resources import ReadingsDatabaseResource


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; every user-caused error becomes one line on stderr and exit code 1."""
    args = build_parser().parse_args(argv)
    try:
        check_paths(args)
        from pm_pipeline.config.settings import load_settings

        # Read once, before any work: a bad setting is one line per variable.
        args.settings = load_settings()
        if getattr(args, "store_first", False):
            # Reach our tables before the command loads Dagster (2 s): a wrong URL, a server
            # that is down or a store not upgraded is one line at once, not a failed run.
            # (`score` retries an outage inside its run instead.)
            from pm_pipeline.db.migrate import open_configured_store

            open_configured_store(args.settings)
        preflight = getattr(args, "preflight", None)
        if preflight is not None:
            # What the run would fail on after loading Dagster, said at once: a mode that
            # cannot fit the robot's data, a short window, no model to score with.
            _handler(preflight)(args)
        return _handler(args.handler)(args)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        # A lost connection or a full disk met where no one line was made for it: still one.
        from pm_pipeline.db.failures import database_failure

        failure = database_failure(error, f"pm-pipeline {args.command}")
        if failure is None:
            raise
        print(f"error: {failure}", file=sys.stderr)
        return 1


def _handler(reference: str) -> Callable[[argparse.Namespace], int]:
    """The function named ``module:function``, importing its module now."""
    module, function = reference.split(":")
    return getattr(importlib.import_module(module), function)


def _database() -> ReadingsDatabaseResource:
    from pm_pipeline.defs.resources import ReadingsDatabaseResource

    return ReadingsDatabaseResource()


def _ingest(args: argparse.Namespace) -> int:
    from pm_pipeline.cli.ingest_command import ingest_files
    from pm_pipeline.cli.robot_choice import chosen_robot, robot_export_format

    robot = chosen_robot(args, known=False)  # ingesting is how a robot's readings arrive
    return ingest_files(args.files, args.settings, robot, robot_export_format(args, robot))


def ingest_file(
    database: ReadingsDatabaseResource,
    path: Path,
    export_format: ExportFormat | None,
    robot_id: str,
):
    """Ingest one export of ``robot_id`` into ``database``'s readings table: the whole file
    or nothing."""
    from pm_pipeline.cli.ingest_command import ingest_file

    return ingest_file(database.engine(), database.table(), robot_id, path, export_format)


def print_notes(notes: Sequence[str]) -> None:
    """Show the parser's notes on stderr, one ``warning:`` line each."""
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
