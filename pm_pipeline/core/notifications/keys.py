"""The key each change of an event is notified under.

Apart from :mod:`~pm_pipeline.core.notifications.routing`, which the settings import: the
daemon, the webserver and most commands read the settings and never need pandas.
"""

from __future__ import annotations

import hashlib

import pandas as pd


def notification_key(
    robot_id: str, source: str, axis: str, start: pd.Timestamp, change: str, severity: str
) -> str:
    """The identity of one change of one event, the same however often its file is scored.

    Event ids are not part of it, so an event rescored under a new id (its stored rows were
    lost) does not notify again; ``source`` and ``start`` are the event's as stored.

    Returns
    -------
    str
        64 hex characters (sha256).
    """
    stamp = pd.Timestamp(start)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    identity = "\x00".join((robot_id, source, axis, stamp.isoformat(), change, severity))
    return hashlib.sha256(identity.encode()).hexdigest()
