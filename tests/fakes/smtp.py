"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for the e-mail channel's tests."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    """A port no one listens on now (the server binds it right after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class MailServer:
    """An SMTP server that accepts ``username``/``password`` (plain AUTH, allowed without TLS here)."""

    username: str = "trader"
    password: str = "app-password-1"
    received: list[Message] = field(default_factory=list)
    port: int = 0
    _controller: Controller | None = None

    def start(self) -> MailServer:
        """Listen on a free loopback port."""
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, auth_require_tls=False,
                                      authenticator=self._authenticate)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.received.append(message_from_bytes(content))
        return "250 Message accepted for delivery"

    def _authenticate(self, server: Any, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.username
              and auth_data.password.decode() == self.password)
        return AuthResult(success=ok, handled=False)

    def wait_for(self, count: int, within: float = 20.0) -> list[Message]:
        """Block until ``count`` messages arrived."""
        deadline = time.monotonic() + within
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} e-mails not received within {within} s")
            time.sleep(0.02)
        return list(self.received)
