"""Following an in-process run as its events are stored, to tell the user what is happening
while it happens: a retry as soon as it is decided, and readings scored so far."""

from __future__ import annotations

import re
import sys
from typing import Any

import dagster as dg

from pm_pipeline.defs.assets.scoring import SCORED_ROWS_LOG, SCORING_RETRY_POLICY

_SCORED_ROWS = re.compile("^" + re.escape(SCORED_ROWS_LOG).replace(r"\{rows\}", r"(\d+)") + "$")
_UNAVAILABLE = "DatabaseUnavailable"


def scoring_retries() -> int:
    """How many times a failed ``file_events`` step is tried again (its RetryPolicy)."""
    return SCORING_RETRY_POLICY.max_retries


class RunWatcher:
    """An ``instance.add_event_listener`` callback for one run.

    The CLI keeps Dagster's console log quiet, and a database outage would otherwise pass in
    silence through the step's retries with backoff (2 + 6 + 14 s): each retry is one line on
    stderr the moment Dagster schedules it.
    """

    def __init__(self, max_retries: int, bar: Any = None) -> None:
        self.max_retries = max_retries
        self.retries = 0
        self.bar = bar

    def __call__(self, entry: dg.EventLogEntry) -> None:
        event = entry.dagster_event
        if event is not None and event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY:
            self.retries += 1
            data: Any = event.event_specific_data
            self._say(
                retry_notice(data.error, data.seconds_to_wait, self.retries, self.max_retries)
            )
            return
        match = _SCORED_ROWS.match(entry.user_message or "") if self.bar is not None else None
        if match and self.bar is not None:
            rows = int(match.group(1))
            if self.bar.total is not None and rows > self.bar.total:
                self.bar.total = rows
            self.bar.update(rows - self.bar.n)

    def _say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)


def retry_notice(error: Any, seconds: float | None, attempt: int, attempts: int) -> str:
    """One line per retry: when the step runs again and, the first time, why it failed (a
    database's message names host, database and user, never the password)."""
    while error is not None and error.cls_name != _UNAVAILABLE and error.cause is not None:
        error = error.cause
    outage = error is not None and error.cls_name == _UNAVAILABLE
    what = "database unreachable" if outage else "step failed"
    if attempt == 1 and error is not None:
        message = error.message.strip().splitlines()[0]
        what += f" ({message.split(': ', 1)[1] if ': ' in message else message})"
    elif attempt > 1:
        what = "database still unreachable" if outage else "step failed again"
    wait = f"{seconds:.0f} s" if seconds is not None else "a moment"
    return f"warning: {what}, retrying in {wait} (retry {attempt} of {attempts})"
