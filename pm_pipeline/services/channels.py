"""Delivering one notification: a JSON POST to a webhook, or an e-mail over SMTP.

Both use the standard library (``urllib.request``, ``smtplib``) with short timeouts, so a
sender's tick stays short even when a receiver hangs. A failure raises
:class:`DeliveryFailed` with a message that names the receiver with its secrets masked.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from pm_pipeline.core.notifications.messages import email_message, webhook_body
from pm_pipeline.core.notifications.routing import mask_webhook_url

TIMEOUT_S = 10.0


class DeliveryFailed(Exception):
    """A delivery did not get through; ``message`` is safe to log and store."""

    def __init__(self, message: str, unreachable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable
        """True when the receiver could not be reached at all: the sender leaves the
        channel's other notifications for its next tick instead of waiting on each."""


class Channel(Protocol):
    def send(self, payload: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class WebhookChannel:
    """POST the notification as JSON; any 2xx answer is a delivery."""

    url: str = field(repr=False)
    fmt: str = "json"
    timeout_s: float = TIMEOUT_S

    def send(self, payload: Mapping[str, Any]) -> None:
        body = json.dumps(webhook_body(payload, self.fmt)).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": "pm-pipeline"},
            method="POST",
        )
        where = f"webhook {mask_webhook_url(self.url)}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise DeliveryFailed(
                self._masked(f"{where} answered HTTP {error.code} {error.reason}"),
                unreachable=False,
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            raise DeliveryFailed(
                self._masked(f"{where} unreachable: {reason}"), unreachable=True
            ) from None

    def _masked(self, text: str) -> str:
        """``text`` without the URL's secret parts, whatever a library put in it."""
        parts = urlsplit(self.url)
        secrets = (self.url, parts.path if parts.path.strip("/") else "", parts.query)
        for secret in (*secrets, parts.password or ""):
            if secret:
                text = text.replace(secret, "/***")
        return text


@dataclass(frozen=True)
class SmtpChannel:
    """Send the notification as an e-mail to every recipient."""

    host: str
    port: int
    security: str  # starttls, ssl or none
    sender: str
    recipients: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = TIMEOUT_S

    def send(self, payload: Mapping[str, Any]) -> None:
        message = email_message(payload, self.sender, self.recipients)
        where = f"SMTP server {self.host}:{self.port}"
        try:
            with self._connect() as smtp:
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as error:
            # The server is there and refused this message: try the others.
            raise DeliveryFailed(self._masked(f"{where} refused: {error}"), False) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(self._masked(f"{where} failed: {error}"), True) from None

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        if self.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _masked(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text
