"""Which event changes notify, on which channels, and when to retry (the key each change is
sent under: :mod:`pm_pipeline.core.notifications.keys`)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

SEVERITIES = ("ALERT", "ERROR")
"""Event severities, lowest first."""
WEBHOOK, EMAIL = "webhook", "email"
OPENED, ESCALATED, RESOLVED = "opened", "escalated", "resolved"
"""The changes of an event that notify: first stored; raised from ALERT to ERROR in place;
shown by later readings to have ended."""
CHANGES = (OPENED, ESCALATED, RESOLVED)
MAX_RETRY_DELAY_S = 3600.0
"""A receiver that stays down is still tried at least hourly."""


@dataclass(frozen=True)
class AlertRouting:
    """Where notifications go and which events notify.

    Attributes
    ----------
    channels
        The configured channels (:data:`WEBHOOK`, :data:`EMAIL`); at least one.
    min_severity
        The lowest severity that notifies, ``ALERT`` or ``ERROR``.
    robots
        The robots covered; empty covers every robot.
    ui_url
        Where people open the Dagster UI, for the link to the run.
    """

    channels: tuple[str, ...]
    min_severity: str = "ALERT"
    robots: frozenset[str] = frozenset()
    ui_url: str = "http://127.0.0.1:3000"

    def covers(self, robot_id: str, severity: str) -> bool:
        """True when an event of ``severity`` on ``robot_id`` notifies."""
        if self.robots and robot_id not in self.robots:
            return False
        return SEVERITIES.index(severity) >= SEVERITIES.index(self.min_severity)

    def health_url(self) -> str:
        """The fleet_health asset page, where each robot's status row is."""
        return f"{self.ui_url.rstrip('/')}/assets/fleet_health"

    def run_url(self, run_id: str | None) -> str | None:
        """The run's page in the Dagster UI, or None without a run."""
        return f"{self.ui_url.rstrip('/')}/runs/{run_id}" if run_id else None


def retry_delay(attempts: int, base_s: float, cap_s: float = MAX_RETRY_DELAY_S) -> float:
    """Seconds to wait after the ``attempts``-th failed delivery: base, 2·base, 4·base, …

    Parameters
    ----------
    attempts
        Failed deliveries so far, at least 1.
    base_s
        The wait after the first failure.
    cap_s
        The longest wait.
    """
    return min(cap_s, base_s * 2.0 ** min(max(attempts, 1) - 1, 30))


def mask_webhook_url(url: str) -> str:
    """The URL with its path and query hidden: webhook tokens live there (Slack, Teams).

    ``https://hooks.slack.com/services/T0/B0/XYZ`` becomes ``https://hooks.slack.com/***``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    if not parts.scheme or not host:
        return "***"
    hidden = "/***" if (parts.path.strip("/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{port}{hidden}"
