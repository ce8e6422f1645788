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
        from pm_pipeline.settings import load_settings

        # Read once, before any work: a bad setting is one line per variable.
        args.settings = load_settings()
        return _handler(args.handler)(args)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _handler(reference: str) -> Callable[[argparse.Namespace], int]:
    """The function named ``module:function``, importing its module now."""
    module, function = reference.split(":")
    return getattr(importlib.import_module(module), function)


def _database() -> ReadingsDatabaseResource:
    from pm_pipeline.defs.resources import ReadingsDatabaseResource

    return ReadingsDatabaseResource()


def _ingest(args: argparse.Namespace) -> int:
    from pm_pipeline.db.engine import describe_url

    database = _database()
    export_format = args.settings.export_format
    failed = 0
    for path in args.files:
        try:
            result = ingest_file(database, path, export_format)
        except PipelineError as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: {result.rows_added} rows added, {result.rows_present} already present")
    if failed < len(args.files):
        print(f"readings table {database.readings_table} in {describe_url(database.resolved_url)}")
    return 1 if failed else 0


def ingest_file(  # noqa: ANN201
    database: ReadingsDatabaseResource, path: Path, export_format: ExportFormat | None = None
):
    """Parse and ingest one export; the whole file or nothing. The parser's notes (current
    columns with data that are not stored) go to stderr as warnings."""
    from pm_pipeline.core.parsing.careful import parse_export
    from pm_pipeline.core.versioning import file_sha256
    from pm_pipeline.db.readings import ingest_readings

    parsed = parse_export(path, export_format)
    print_notes(parsed.notes)
    readings = parsed.readings
    return ingest_readings(
        database.engine(),
        database.table(),
        readings,
        database.robot_id,
        str(path),
        file_sha256(path),
    )


def print_notes(notes: Sequence[str]) -> None:
    """Show the parser's notes on stderr, one ``warning:`` line each."""
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
