"""Real receivers for notifications, run inside a test: an HTTP webhook and an SMTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message


def free_port() -> int:
    """A port nothing listens on (a connection to it is refused until a receiver binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebhookReceiver:
    """An HTTP server in a thread that records every POST and answers 200, or 500 to the
    first ``fail_each`` POSTs of each ``notification_id``."""

    def __init__(self, port: int | None = None, path: str = "/hook/T0KEN") -> None:
        self.port, self.path = port or free_port(), path
        self.fail_each = 0
        self.received: list[dict[str, Any]] = []
        self.acknowledged: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = receiver._record(self.path, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _record(self, path: str, body: dict[str, Any]) -> int:
        with self._lock:
            self.received.append(body)
            tries = sum(
                1
                for seen in self.received
                if seen.get("notification_id") == body.get("notification_id")
            )
            if path != self.path:
                return 404
            if tries <= self.fail_each:
                return 500
            self.acknowledged.append(body)
            return 200

    def acknowledged_ids(self) -> Counter[str]:
        with self._lock:
            return Counter(str(body["notification_id"]) for body in self.acknowledged)

    def tries(self) -> Counter[str]:
        with self._lock:
            return Counter(str(body["notification_id"]) for body in self.received)


class _Collect(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[EmailMessage] = []
        self.fail_each = 0
        """Answer each notification with a temporary failure this many times first."""
        self.tries: Counter[str] = Counter()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = self.prepare_message(session, envelope)
        key = _notification_id(message)
        self.tries[key] += 1
        if self.tries[key] <= self.fail_each:
            return "451 4.3.0 Try again later"
        self.handle_message(message)
        return "250 OK"

    def handle_message(self, message: EmailMessage) -> None:
        self.messages.append(message)


def _notification_id(message: EmailMessage) -> str:
    # A long header value comes folded onto a second line.
    return "".join(str(message["X-PM-Notification-Id"]).split())


class MailReceiver:
    """An SMTP server (aiosmtpd) in a thread that keeps every message it accepts."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._handler = _Collect()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> MailReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self._handler.messages)

    @property
    def fail_each(self) -> int:
        return self._handler.fail_each

    @fail_each.setter
    def fail_each(self, count: int) -> None:
        self._handler.fail_each = count

    def tries(self) -> Counter[str]:
        """Deliveries tried per notification id, refused ones included."""
        return Counter(self._handler.tries)

    def notification_ids(self) -> Counter[str]:
        return Counter(_notification_id(m) for m in self.messages)
