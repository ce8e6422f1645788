"""The notification settings (``PM_ALERT_*``, ``PM_SMTP_*``), a part of :class:`Settings`.

Kept apart so ``settings.py`` stays readable; :class:`pm_pipeline.config.settings.Settings` inherits
these fields and reads them with the rest. Nothing here reads the environment itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode

from pm_pipeline.config.setting_field import setting as _setting
from pm_pipeline.core.notifications.routing import EMAIL, WEBHOOK, mask_webhook_url


class AlertSettings(BaseSettings):
    """Where event notifications go; see docs/notifications.md."""

    alert_webhook_url: str | None = _setting(
        None,
        "PM_ALERT_WEBHOOK_URL",
        "Webhook that gets a JSON POST per event change (Slack or Teams incoming webhook, or "
        "your own). Its path and query are treated as secret and never logged. Unset: no POST.",
        repr=False,
    )
    alert_webhook_format: Literal["json", "teams"] = _setting(
        "json",
        "PM_ALERT_WEBHOOK_FORMAT",
        "json: every event field plus a text line (Slack and Teams connectors show the text); "
        "teams: an Adaptive Card, for Teams Workflows webhooks.",
        "not a webhook format; write json or teams",
    )
    alert_min_severity: Literal["ALERT", "ERROR"] = _setting(
        "ALERT",
        "PM_ALERT_MIN_SEVERITY",
        "The lowest event severity that notifies: ALERT (both) or ERROR.",
        "not a severity; write ALERT or ERROR",
    )
    alert_robots: Annotated[tuple[str, ...], NoDecode] = _setting(
        (),
        "PM_ALERT_ROBOTS",
        "Robots whose events notify, comma-separated, e.g. robot-1,robot-2. Unset: every robot.",
    )
    alert_retry_base_seconds: float = _setting(
        30.0,
        "PM_ALERT_RETRY_BASE_SECONDS",
        "A failed delivery is retried after this many seconds, then twice as long each time "
        "(at most an hour), until it gets through.",
        "not a number; write seconds like 30",
        gt=0,
    )
    smtp_host: str | None = _setting(
        None, "PM_SMTP_HOST", "SMTP server for e-mail notifications. Unset: no e-mail."
    )
    smtp_port: int | None = _setting(
        None,
        "PM_SMTP_PORT",
        "SMTP port. Unset: 587 with starttls, 465 with ssl, 25 with none.",
        "not a port number; write e.g. 587",
        ge=1,
        le=65535,
    )
    smtp_security: Literal["starttls", "ssl", "none"] = _setting(
        "starttls",
        "PM_SMTP_SECURITY",
        "How the SMTP connection is encrypted: starttls, ssl (SMTPS) or none (a local relay).",
        "not a connection security; write starttls, ssl or none",
    )
    smtp_user: str | None = _setting(None, "PM_SMTP_USER", "SMTP login user. Unset: no login.")
    smtp_password: str | None = _setting(
        None, "PM_SMTP_PASSWORD", "SMTP login password (never logged).", repr=False
    )
    alert_email_from: str | None = _setting(
        None,
        "PM_ALERT_EMAIL_FROM",
        "Sender address of notification e-mails; needed with PM_SMTP_HOST.",
        validate_default=True,
    )
    alert_email_to: Annotated[tuple[str, ...], NoDecode] = _setting(
        (),
        "PM_ALERT_EMAIL_TO",
        "Recipients of notification e-mails, comma-separated; needed with PM_SMTP_HOST.",
        validate_default=True,
    )

    @property
    def alert_channels(self) -> tuple[str, ...]:
        """The configured notification channels; empty when nothing is to be sent."""
        return tuple(
            channel
            for channel, configured in ((WEBHOOK, self.alert_webhook_url), (EMAIL, self.smtp_host))
            if configured
        )

    @property
    def smtp_port_or_default(self) -> int:
        """The SMTP port: PM_SMTP_PORT, or the usual one for the connection security."""
        return self.smtp_port or {"starttls": 587, "ssl": 465, "none": 25}[self.smtp_security]

    @field_validator("alert_webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - a bad port only fails when read
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"PM_ALERT_WEBHOOK_URL={mask_webhook_url(value)!r}: not an http(s) URL; "
                "paste the webhook URL your chat tool gave you, starting with https://."
            )
        return value

    @field_validator("alert_min_severity", "smtp_security", "alert_webhook_format", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        return text.upper() if info.field_name == "alert_min_severity" else text.lower()

    @field_validator("alert_robots", "alert_email_to", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("smtp_password")
    @classmethod
    def _password_needs_user(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not info.data.get("smtp_user"):
            raise ValueError("PM_SMTP_PASSWORD is set without PM_SMTP_USER; set the login user.")
        return value

    @field_validator("alert_email_from")
    @classmethod
    def _sender(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("smtp_host"):
            raise ValueError(
                "PM_ALERT_EMAIL_FROM is unset while PM_SMTP_HOST is set; give the sender "
                "address, e.g. pm-pipeline@example.com."
            )
        if value is not None and "@" not in value:
            raise ValueError(
                f"PM_ALERT_EMAIL_FROM={value!r}: not an e-mail address; write e.g. "
                "pm-pipeline@example.com."
            )
        return value

    @field_validator("alert_email_to")
    @classmethod
    def _recipients(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        host = info.data.get("smtp_host")
        if host and not value:
            raise ValueError(
                "PM_ALERT_EMAIL_TO is unset while PM_SMTP_HOST is set; list the recipients, "
                "comma-separated."
            )
        if value and not host and "smtp_host" in info.data:
            raise ValueError(
                "PM_ALERT_EMAIL_TO is set but PM_SMTP_HOST is not; set the SMTP server that "
                "sends the e-mails."
            )
        bad = [address for address in value if "@" not in address]
        if bad:
            raise ValueError(
                f"PM_ALERT_EMAIL_TO: {', '.join(bad)} is not an e-mail address; write "
                "name@example.com, comma-separated."
            )
        return value
