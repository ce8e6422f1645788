"""Cells that a spreadsheet would run as formulas, neutralised before a file is exported.

A landed file's name (an event's ``source``) and other text travel into the CSV files and
the workbook that ``pm-pipeline export`` and ``score --events-csv`` write. A text cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel, LibreOffice
and Google Sheets as a formula (``=HYPERLINK(...)``, ``=cmd|...``): OWASP's advice for CSV
injection is to prefix such a cell with a single quote, which makes it text. Numbers stay
numbers: a negative current or z is a number cell, never touched, and so is text that is
only a number literal (``-3.5``), which no spreadsheet runs.
"""

from __future__ import annotations

import re

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(value: object) -> object:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as formulas (see the module notes);
    number, time and boolean columns are left as they are."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            out[column] = series.map(neutralise_cell, na_action="ignore").astype(series.dtype)
    return out
