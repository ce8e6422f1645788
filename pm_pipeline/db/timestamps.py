"""Moving UTC timestamps in and out of the database the same way on Postgres and SQLite."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Engine


def to_db_times(bind: Engine | Connection, times: pd.Series) -> list[datetime]:
    """Python datetimes for binding: aware UTC on Postgres, naive UTC on SQLite.

    SQLite stores no offset, so values are written as naive UTC; Postgres gets aware values so
    a session time zone other than UTC cannot shift them.
    """
    utc = pd.to_datetime(times, utc=True)
    if bind.dialect.name == "sqlite":
        utc = utc.dt.tz_localize(None)
    return list(utc.dt.to_pydatetime())


def to_db_time(bind: Engine | Connection, value: pd.Timestamp | str) -> datetime:
    """One timestamp for binding; see :func:`to_db_times`."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if bind.dialect.name == "sqlite":
        stamp = stamp.tz_localize(None)
    return stamp.to_pydatetime()


def from_db_times(values: pd.Series) -> pd.Series:
    """UTC-aware timestamps from whatever the driver returned (naive means UTC)."""
    return pd.to_datetime(values, utc=True, format="ISO8601").dt.as_unit("us")
