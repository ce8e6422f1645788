"""One health status per robot, and the fleet's, as a monitoring check reads them.

A robot's status is the first of these that holds:

========== =============================================================================
ALARM      an open ERROR event
WATCH      an open ALERT event
NO DATA    no reading for longer than ``PM_STALE_AFTER_MINUTES`` (counted from the newest
           reading's time or, when later, from when the newest file was stored), or none
           at all
NO MODEL   no active model version
STALE MODEL a new baseline (maintenance, a new-normal label) the active model predates,
           or an active model older than ``PM_MODEL_MAX_AGE_DAYS``
OK         none of the above
========== =============================================================================

``pm-pipeline fleet --check`` exits like a monitoring plugin: 2 when a robot is in ALARM,
else 3 (cannot tell) when a robot has NO DATA or NO MODEL, else 1 for WATCH or STALE
MODEL, else 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

OK, WATCH, ALARM = "OK", "WATCH", "ALARM"
NO_DATA, NO_MODEL, STALE_MODEL = "NO DATA", "NO MODEL", "STALE MODEL"
STATUSES = (ALARM, WATCH, NO_DATA, NO_MODEL, STALE_MODEL, OK)
"""Worst first."""
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNKNOWN = 0, 1, 2, 3
EXIT_CODES = {
    OK: EXIT_OK,
    WATCH: EXIT_WARNING,
    STALE_MODEL: EXIT_WARNING,
    ALARM: EXIT_CRITICAL,
    NO_DATA: EXIT_UNKNOWN,
    NO_MODEL: EXIT_UNKNOWN,
}
_EXIT_RANK = (EXIT_OK, EXIT_WARNING, EXIT_UNKNOWN, EXIT_CRITICAL)
"""ALARM outranks "cannot tell", which outranks WATCH: a badge shows the worst it knows."""


@dataclass(frozen=True)
class RobotFacts:
    """What a robot's status is judged from."""

    robot_id: str
    open_alerts: int
    open_errors: int
    newest_reading: pd.Timestamp | None
    active_model: str | None
    model_created: pd.Timestamp | None
    awaiting_baseline: str | None = None
    """Why a retraining is awaited (a new baseline the active model predates), or None."""
    quarantined_24h: int = 0
    precision: float | None = None
    """``confirmed / (confirmed + false-alarm)`` of the robot's labelled events."""
    labelled: int = 0
    last_landed: pd.Timestamp | None = None
    """When the robot's newest file was stored: a replayed or late export is data arriving
    even when its readings are old."""


@dataclass(frozen=True)
class Limits:
    """When data and models count as stale."""

    stale_after: pd.Timedelta
    model_max_age: pd.Timedelta


def robot_status(facts: RobotFacts, now: pd.Timestamp, limits: Limits) -> tuple[str, str]:
    """The robot's status and why, in a few words."""
    if facts.open_errors:
        return ALARM, f"{facts.open_errors} open ERROR event(s)"
    if facts.open_alerts:
        return WATCH, f"{facts.open_alerts} open ALERT event(s)"
    if facts.newest_reading is None:
        return NO_DATA, "no readings stored"
    arrived = max(t for t in (facts.newest_reading, facts.last_landed) if t is not None)
    if now - arrived > limits.stale_after:
        return NO_DATA, f"no reading for {_age(now - arrived)}"
    if facts.active_model is None:
        return NO_MODEL, "no active model version; run `pm-pipeline train`"
    if facts.awaiting_baseline:
        return STALE_MODEL, facts.awaiting_baseline
    if facts.model_created is not None and now - facts.model_created > limits.model_max_age:
        return STALE_MODEL, f"model {facts.active_model} is {_age(now - facts.model_created)} old"
    return OK, "no open events"


def fleet_rows(facts: list[RobotFacts], now: pd.Timestamp, limits: Limits) -> pd.DataFrame:
    """One row per robot, worst status first: status, why, open events, newest reading and
    its age, active model and its age, quarantined files, labelled precision."""
    rows = []
    for robot in facts:
        status, reason = robot_status(robot, now, limits)
        rows.append(
            {
                "robot": robot.robot_id,
                "status": status,
                "why": reason,
                "open_errors": robot.open_errors,
                "open_alerts": robot.open_alerts,
                "newest_reading": robot.newest_reading,
                "reading_age": _age(now - robot.newest_reading) if robot.newest_reading else "-",
                "model": robot.active_model or "-",
                "model_age": _age(now - robot.model_created) if robot.model_created else "-",
                "quarantined_24h": robot.quarantined_24h,
                "precision": robot.precision,
                "labelled": robot.labelled,
            }
        )
    frame = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    rank = frame["status"].map({status: index for index, status in enumerate(STATUSES)})
    return frame.assign(_rank=rank).sort_values(["_rank", "robot"]).drop(columns="_rank")


ROW_COLUMNS = (
    "robot",
    "status",
    "why",
    "open_errors",
    "open_alerts",
    "newest_reading",
    "reading_age",
    "model",
    "model_age",
    "quarantined_24h",
    "precision",
    "labelled",
)


def fleet_exit_code(statuses: list[str]) -> int:
    """The monitoring-plugin exit code of the fleet: the worst robot's; 3 with no robot."""
    if not statuses:
        return EXIT_UNKNOWN
    return max((EXIT_CODES[status] for status in statuses), key=_EXIT_RANK.index)


def status_line(rows: pd.DataFrame) -> str:
    """The check's first line: ``FLEET <worst>: n ALARM, n WATCH, … | robots not OK``."""
    if rows.empty:
        return "FLEET UNKNOWN: no robots"
    code = fleet_exit_code(list(rows["status"]))
    word = {EXIT_OK: "OK", EXIT_WARNING: "WARNING", EXIT_CRITICAL: "CRITICAL"}.get(code, "UNKNOWN")
    counts = rows["status"].value_counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
    attention = [f"{r.robot} {r.status}" for r in rows.itertuples() if r.status != OK]
    return f"FLEET {word}: {summary}" + (f" ({'; '.join(attention[:10])})" if attention else "")


def _age(delta: pd.Timedelta) -> str:
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def status_markdown(rows: pd.DataFrame, limit: int = 1000) -> str:
    """Robot, status and why as a markdown table short enough for the UI to show in place
    (see :data:`pm_pipeline.core.views.inline.INLINE_LIMIT`): the worst robots first, the
    rest counted in a last line."""
    header = "| robot | status | why |\n|---|---|---|\n"
    lines = [f"| {r.robot} | **{r.status}** | {r.why} |\n" for r in rows.itertuples()]
    text = header
    for shown, line in enumerate(lines):
        more = f"\n{len(lines) - shown} more robots in `fleet`" if shown < len(lines) else ""
        if len(text) + len(line) + len(more) + 40 > limit:
            return text + f"\n{len(lines) - shown} more robots in the `fleet` table"
        text += line
    return text


def fleet_cell(value: object) -> str:
    """One cell of the fleet table as text, the same in the CLI and the UI: ``-`` for a
    missing value, times in UTC to the second, shares to two decimals."""
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
