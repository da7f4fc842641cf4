"""The agent embedded in the app: this machine's paired agent, run on its own thread while signed in.

The host finds the agent whose pairing key is in this machine's keyring, has the services' agent
launcher build its thread (and, for an agent that trades on the simulator, the simulator's process
when none serves the workspace), attaches it to the window's :class:`AgentBridge`, and follows
pairing: a new or re-paired key restarts it, a revoked one stops it. Closing the session stops it
before the services close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QObject

from tnm_desktop.domain import Agent, AgentCredentials
from tnm_desktop.gui.widgets.hubs import AgentBridge
from tnm_desktop.gui.widgets.tasks import TaskRunner
from tnm_desktop.services import Services

if TYPE_CHECKING:
    from tnm_desktop.agent.thread import AgentThread

log = logging.getLogger(__name__)

T = TypeVar("T")
STOP_WAIT_S = 30.0  # an order in flight finishes before the agent stops


class AgentHost(QObject):
    """Runs this machine's agent for a signed-in window.

    Args:
        services: The signed-in services: their agent launcher builds the agent, which gets its
            own adapter from ``data.spawn()``; without a launcher no agent runs in this process.
        bridge: Where the agent's events go and where the views find its controls.
        tasks: The window's task runner (pairing changes restart the agent in a task).
    """

    def __init__(self, services: Services, bridge: AgentBridge, tasks: TaskRunner,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._bridge = bridge
        self._tasks = tasks
        self.agent_thread: AgentThread | None = None
        self._lock = asyncio.Lock()  # one start or stop at a time
        self._running: set[asyncio.Future[Any]] = set()
        self._closed = False
        bridge.paired.connect(self._on_bridge_paired)
        bridge.revoked.connect(self._on_bridge_revoked)

    async def start(self) -> AgentThread | None:
        """Start this machine's agent, if it is paired here; return its thread."""
        return await self._whole(self._start_found())

    async def _start_found(self) -> AgentThread | None:
        if self._services.agents is None:
            log.info("this process runs no agent")
            return None
        async with self._lock:
            found = await self._find()
            if found is None:
                log.info("no agent paired on this machine: the agent does not run in the app")
                return None
            return await self._start(*found)

    async def _whole(self, work: Coroutine[Any, Any, T]) -> T:
        # Starting and stopping run to their end even when the caller is cancelled (the window's
        # tasks are cancelled on sign-out): half a start would leave a thread or a simulator behind.
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Stop the agent, letting a job in flight finish (the services stop its simulator)."""
        self._closed = True
        await asyncio.gather(*self._running, return_exceptions=True)
        async with self._lock:
            await self._stop()

    # Finding and starting ----------------------------------------------------------------------

    async def _find(self) -> tuple[Agent, AgentCredentials] | None:
        from tnm_desktop.agent import pairing

        data = self._services.data
        agents = [a for a in await data.list_agents() if a.paired]
        ws = self._services.workspace
        preferred = (await asyncio.to_thread(ws.settings)).agent_id if ws is not None else None
        agents.sort(key=lambda a: (a.id == preferred, a.last_heartbeat_at or a.created_at), reverse=True)
        for agent in agents:
            creds = await pairing.load_credentials(agent.id)
            if creds is not None:
                return agent, creds
        return None

    async def _start(self, agent: Agent, creds: AgentCredentials) -> AgentThread | None:
        launcher = self._services.agents
        if self._closed or launcher is None:
            return None
        await self._stop()
        thread = await launcher.thread(agent, creds, self._services.data.spawn())
        self.agent_thread = thread
        self._bridge.attach(thread)
        thread.start()
        log.info("agent %s started in the app", agent.name)
        return thread

    async def _stop(self) -> None:
        thread, self.agent_thread = self.agent_thread, None
        if thread is None:
            return
        thread.stop()
        if not await asyncio.to_thread(thread.join, STOP_WAIT_S):
            log.warning("the agent did not stop within %.0f s; leaving its thread behind", STOP_WAIT_S)
        self._bridge.detach()

    # Pairing -----------------------------------------------------------------------------------

    def _on_bridge_paired(self, agent: Agent) -> None:
        self._tasks.spawn(self._whole(self._restart(agent)), name="agent: start after pairing")

    async def _restart(self, agent: Agent) -> None:
        from tnm_desktop.agent import pairing

        async with self._lock:
            creds = await pairing.load_credentials(agent.id)
            if creds is not None:
                await self._start(agent, creds)

    def _on_bridge_revoked(self, agent_id: str) -> None:
        if self.agent_thread is not None and self.agent_thread.agent_id == agent_id:
            self._tasks.spawn(self._whole(self._stop_locked()), name="agent: stop after revoke")

    async def _stop_locked(self) -> None:
        async with self._lock:
            await self._stop()
