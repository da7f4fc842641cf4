"""What a signed-in window or a headless command works with: :class:`Services`.

The composition root (:mod:`tnm_desktop.composition`) builds them for a connection profile; the
rest of the program receives what it needs from the :class:`Services` it is handed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tnm_desktop.data.port import DataPort
from tnm_desktop.domain import Agent, AgentCredentials
from tnm_desktop.profiles import ConnectionProfile, ProfileKind
from tnm_desktop.webhook.urls import LOCAL_DEFAULT, edge_function_base, is_automatic, is_loopback
from tnm_desktop.workspace import Workspace

if TYPE_CHECKING:
    from tnm_desktop.agent.thread import AgentThread, DataFactory

log = logging.getLogger(__name__)


class AgentLauncher(Protocol):
    """Builds this machine's agent on a thread of its own, and what it trades on (the simulator)."""

    async def thread(self, agent: Agent, creds: AgentCredentials, data: DataFactory) -> AgentThread:
        """The agent's thread, not started yet; ``data`` builds its adapter on the thread's loop."""
        ...

    async def close(self) -> None:
        """Stop what was started for the agents (the simulator's process)."""
        ...


class ReceiverHandle(Protocol):
    """A local workspace's own webhook receiver, on the port the workspace pins. Its calls block."""

    error: str | None  # why it is not running, in the trader's words

    @property
    def port(self) -> int:
        """The port its URLs use."""
        ...

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        ...

    @property
    def running(self) -> bool:
        """Whether it is listening."""
        ...

    def start(self) -> str:
        """Listen on the pinned port; return the base URL (OperationalError: the port is taken)."""
        ...

    def move_to(self, port: int) -> str:
        """Listen on another port and pin it; return the base URL."""
        ...

    def stop(self) -> None:
        """Stop listening."""
        ...


@dataclass
class Services:
    """Everything a signed-in window or a headless command works with.

    Attributes:
        profile: The connection profile in use.
        data: The data port (local or Supabase adapter).
        workspace: The local workspace, when the profile is one.
        keyring: Which keyring holds the secrets (shown in Settings).
        closers: Blocking calls that stop what was started beside the data port (the demo's
            simulator), run in a worker thread on close, last started first.
        receiver: This workspace's own webhook receiver on its pinned port (local workspaces).
        agents: Builds this machine's agent for the app (None: this process runs no agent).
    """

    profile: ConnectionProfile
    data: DataPort
    workspace: Workspace | None = None
    keyring: str = ""
    closers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    receiver: ReceiverHandle | None = None
    agents: AgentLauncher | None = field(default=None, repr=False)

    @property
    def webhook_base_url(self) -> str:
        """The base of the webhook URLs shown to the trader.

        The profile's when it names one that is not this computer (a tunnel, a proxy, a server);
        else this workspace's receiver on its pinned port; else, for a Supabase project, its
        Edge Function (``<project>/functions/v1``).
        """
        base = self.profile.webhook_base_url.strip().rstrip("/")
        if self.receiver is not None and (is_automatic(base) or is_loopback(base)):
            return self.receiver.base_url
        if not is_automatic(base):
            return base
        if self.profile.kind is ProfileKind.SUPABASE:
            return edge_function_base(self.profile.supabase_url)
        return LOCAL_DEFAULT

    async def close(self) -> None:
        """Close the data port and stop what this process started (the workspace database)."""
        with contextlib.suppress(Exception):
            await self.data.close()
        if self.receiver is not None:
            await asyncio.to_thread(self.receiver.stop)
        if self.agents is not None:
            try:
                await self.agents.close()
            except Exception:  # the rest must still stop
                log.exception("stopping the agents' simulator failed")
        while self.closers:
            closer = self.closers.pop()
            try:
                await asyncio.to_thread(closer)
            except Exception:  # the others must still stop
                log.exception("stopping %r failed", closer)
        if self.workspace is not None:
            await asyncio.to_thread(self.workspace.close)
