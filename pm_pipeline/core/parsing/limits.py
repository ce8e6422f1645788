"""How long a line of an export may be: a limit checked before a line is read whole.

A controller's lines hold a few hundred bytes. One damaged 100 MB field would otherwise be
held in memory, parsed, and quoted whole into an error line and Dagster's events; a line
over :data:`MAX_LINE_BYTES` is refused by its number instead, on every read of a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pm_pipeline.core.errors import PipelineError
from pm_pipeline.core.parsing.opened import ExportSource, binary, source_path

MAX_LINE_BYTES = 1 << 20
"""The longest line read, in bytes."""
_SCAN_BYTES = 1 << 20
_NEWLINE = ord("\n")


def check_line_lengths(source: ExportSource, gzipped: bool, lines: int | None = None) -> None:
    """Refuse a line longer than :data:`MAX_LINE_BYTES`, by its number, reading the file in
    chunks (so the line itself is never held whole); only the first ``lines`` when given.

    Raises
    ------
    PipelineError
        Naming the file and the line.
    """
    path = source_path(source)
    number, run = 1, 0  # the line being read, and its bytes so far
    with binary(source, gzipped) as handle:
        while chunk := handle.read(_SCAN_BYTES):
            ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == _NEWLINE)
            if len(ends):
                lengths = np.diff(ends, prepend=-1)
                lengths[0] += run
                too_long = np.flatnonzero(lengths > MAX_LINE_BYTES)
                if len(too_long):
                    raise PipelineError(line_too_long(path, number + int(too_long[0])))
                number, run = number + len(ends), len(chunk) - int(ends[-1]) - 1
            else:
                run += len(chunk)
            if run > MAX_LINE_BYTES:
                raise PipelineError(line_too_long(path, number))
            if lines is not None and number > lines:
                return


def line_too_long(path: Path, number: int) -> str:
    """The message for a line over :data:`MAX_LINE_BYTES`."""
    return (
        f"{path}: line {number} is longer than {MAX_LINE_BYTES / (1 << 20):g} MiB, where a "
        "controller export's lines hold a few hundred bytes: the file is damaged or not an "
        "export; fix or remove that line and export it again."
    )
