"""A local workspace's own receiver, on the port the workspace pins (``workspace.json``: ``receiver_port``).

The port is part of every webhook URL pasted into TradingView, so it never changes by itself: when
it is taken the receiver does not start, says so, and the trader chooses another port (which then
is pinned). Everything here blocks (binding, stopping a thread): call it off the GUI thread.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from tnm_desktop.domain.handover import Handover
from tnm_desktop.errors import OperationalError, UserError
from tnm_desktop.loops import selector_loop
from tnm_desktop.webhook.config import ReceiverConfig
from tnm_desktop.webhook.server import WebhookReceiver
from tnm_desktop.webhook.urls import local_base
from tnm_desktop.workspace import Workspace

log = logging.getLogger(__name__)


def check_port(port: int) -> int:
    """A port a receiver may be pinned to, or UserError saying what is wrong."""
    if not 1 <= port <= 65535:
        raise UserError("A port is a number from 1 to 65535.", code="invalid")
    return port


def port_available(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a receiver could listen on ``port`` now (bound the way asyncio binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if os.name == "posix":  # as asyncio does there; Windows' SO_REUSEADDR would share a taken port
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class LocalReceiver:
    """The receiver of one workspace on its pinned port. Constructing it reads the workspace's settings.

    Args:
        workspace: Where the port is kept.
        database_url: libpq URL of role ``tnm_ingest`` on the workspace's database.
        port: Listen here instead of the pinned port, without pinning it (``tnm-desktop demo
            --port``; 0 takes any free port, for scripts and tests).

    The agent the app runs in this process is given :attr:`handover`, through which an alert's
    call may claim the new job for it while it is idle (:mod:`tnm_desktop.domain.handover`).
    """

    def __init__(self, workspace: Workspace, database_url: str, *, port: int | None = None) -> None:
        self._workspace = workspace
        self.handover = Handover()
        self._database_url = database_url
        self._override = port
        self._pinned = workspace.settings().receiver_port  # read once: the GUI asks for URLs often
        self._lock = threading.Lock()
        self._receiver: WebhookReceiver | None = None
        self.error: str | None = None  # why it is not running, in the trader's words

    @property
    def port(self) -> int:
        """The port the URLs use: the running receiver's, else the pinned one."""
        receiver = self._receiver
        if receiver is not None and receiver.base_url:
            return int(receiver.base_url.rsplit(":", 1)[1])
        return self._override if self._override is not None else self._pinned

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: where TradingView's requests must arrive on this computer."""
        return local_base(self.port)

    @property
    def running(self) -> bool:
        """Whether it is listening."""
        return self._receiver is not None and self._receiver.running

    def start(self) -> str:
        """Listen on the port; return the base URL.

        Raises:
            OperationalError: The port is taken (or cannot be used); ``error`` says so too.
        """
        with self._lock:
            if self._receiver is None:
                try:
                    self._receiver = self._start_on(self.port)
                except OperationalError as exc:
                    self.error = exc.message
                    raise
                self.error = None
            return self.base_url

    def move_to(self, port: int) -> str:
        """Listen on another port and pin it; the old one keeps serving until the new one listens.

        Raises:
            UserError: Not a port number.
            OperationalError: The new port is taken; nothing changed.
        """
        check_port(port)
        with self._lock:
            old = self._receiver
            if old is not None and self.port == port:
                return self.base_url
            new = self._start_on(port)
            self._workspace.update_settings(receiver_port=port)
            self._pinned = port
            self._override = None
            self._receiver = new
            self.error = None
        if old is not None:
            old.stop()
        log.info("the webhook receiver moved to port %d", port)
        return self.base_url

    def stop(self) -> None:
        """Stop listening (a no-op when not running)."""
        with self._lock:
            receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.stop()

    def _start_on(self, port: int) -> WebhookReceiver:
        # A trader's own alerts: a modest rate, on a selector loop of its own (its pool is psycopg's);
        # the workspace's own database, reached directly.
        config = ReceiverConfig(database_url=self._database_url, port=port, burst=50, rate_per_second=20,
                                direct=True)
        receiver = WebhookReceiver(config, loop_factory=selector_loop, handover=self.handover)
        try:
            receiver.start()
        except OperationalError as exc:
            if exc.code == "receiver_port" and "in use" in exc.message:
                raise OperationalError(f"Port {port} is in use by another program.", code="receiver_port") from exc
            raise
        return receiver
