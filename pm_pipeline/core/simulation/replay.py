"""Cutting an export into consecutive chunks, as a live controller feed would deliver it."""

from __future__ import annotations

import pandas as pd

from pm_pipeline.core.errors import PipelineError


def chunk_readings(readings: pd.DataFrame, rows_per_file: int) -> list[pd.DataFrame]:
    """Split readings, in order, into pieces of ``rows_per_file`` rows (the last may be short).

    Raises
    ------
    PipelineError
        When ``rows_per_file`` is not positive.
    """
    if rows_per_file <= 0:
        raise PipelineError(f"--rows-per-file must be positive, got {rows_per_file}.")
    return [
        readings.iloc[start : start + rows_per_file]
        for start in range(0, len(readings), rows_per_file)
    ]
