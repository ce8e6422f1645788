"""`pm-pipeline ingest FILE…`: store controller exports in the readings table.

Kept apart from the rest of the command line so that ingesting imports no Dagster and no
detector: only the parser, the database code and the one ingest use case
(:func:`pm_pipeline.services.ingest.ingest_export`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, Table

from pm_pipeline.config.settings import Settings
from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.parsing.careful import sniff_layout
from pm_pipeline.core.parsing.format import ExportFormat
from pm_pipeline.core.versioning import file_sha256
from pm_pipeline.db.engine import describe_url, resolve_database_url
from pm_pipeline.db.ingest import IngestResult
from pm_pipeline.db.migrate import open_configured_store
from pm_pipeline.db.schema import readings_table
from pm_pipeline.services.ingest import ingest_export


def ingest_files(
    files: Sequence[Path], settings: Settings, robot_id: str, export_format: ExportFormat
) -> int:
    """Ingest each file of ``robot_id`` into the default readings table; 1 when any failed.

    The database is ``PM_DATABASE_URL`` from ``settings`` (else the embedded SQLite file),
    the table ``pm_readings`` with time column ``timestamp_recorded``: the defaults of the
    pipeline's readings resource.
    """
    url = resolve_database_url(None, settings)
    table = readings_table()
    engine: Engine | None = None
    failed = 0
    for path in files:
        try:
            engine = engine or open_configured_store(settings)
            result = ingest_file(engine, table, robot_id, path, export_format)
        except PipelineError as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: {result.rows_added} rows added, {result.rows_present} already present")
    if failed < len(files):
        print(f"readings of {robot_id} in table {table.fullname} in {describe_url(url)}")
    return 1 if failed else 0


def ingest_file(
    engine: Engine,
    table: Table,
    robot_id: str,
    path: Path,
    export_format: ExportFormat | None = None,
) -> IngestResult:
    """Ingest one export, the whole file or nothing, with a progress bar on stderr for a
    file that takes more than a second. The parser's notes (current columns with data
    that are not stored) go to stderr as warnings."""
    from tqdm import tqdm

    fmt = ExportFormat() if export_format is None else export_format
    sniff_layout(path)  # a missing or binary file is one clear line before it is hashed
    total = path.stat().st_size
    with tqdm(
        total=total, unit="B", unit_scale=True, delay=1, file=sys.stderr, desc=path.name
    ) as bar:
        done = ingest_export(
            engine,
            table,
            robot_id,
            path,
            file_sha256(path),
            fmt,
            file_name=str(path),
            progress=lambda read: bar.update(read - bar.n),
        )
        bar.update(total - bar.n)
    for note in done.notes:
        print(f"warning: {note}", file=sys.stderr)
    return done.ingest
