"""The agent on its own thread, with its own event loop and its own database connections.

:class:`AgentThread` implements :class:`~tnm_desktop.agent.events.AgentControl`: its controls are
safe from any thread (they hop onto the agent's loop with ``call_soon_threadsafe``), and its
listeners are called on the agent's thread — the GUI's bridge only re-emits them as Qt signals.
The thread's event loop is the one its builder chooses (the composition root: a selector loop,
so that psycopg runs on it directly).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

from tnm_desktop.agent.events import AgentEvent, AgentListener, StateChanged
from tnm_desktop.agent.worker import Agent, AgentSettings, JobRunner
from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import AgentCredentials, AgentState
from tnm_desktop.domain.handover import Handover
from tnm_desktop.errors import TnmError
from tnm_desktop.loops import LoopFactory, selector_loop

log = logging.getLogger(__name__)

DataFactory = Callable[[], Awaitable[AgentPort]]
RunnerFactory = Callable[[AgentPort, AgentCredentials, Callable[[AgentEvent], None]], Awaitable[JobRunner]]


class AgentThread:
    """Runs an :class:`Agent` on a thread of its own.

    Args:
        data_factory: Builds, on the agent's loop, a data adapter signed in as the user
            (``DataPort.spawn()`` of the GUI's adapter, or a fresh one for a headless agent).
        creds: The agent's id and pairing key.
        runner_factory: Builds the job runner (terminal, toolchain) on the agent's loop; it gets the
            agent's event sink for what it sees of the terminal.
        settings: Timings.
        loop_factory: Makes the thread's event loop.
        handover: Shared with the receiver of this process, which may claim for the agent while it
            is idle (:mod:`tnm_desktop.domain.handover`).
    """

    def __init__(self, data_factory: DataFactory, creds: AgentCredentials, runner_factory: RunnerFactory,
                 settings: AgentSettings | None = None, *, loop_factory: LoopFactory = selector_loop,
                 handover: Handover | None = None) -> None:
        self._data_factory = data_factory
        self._handover = handover
        self._loop_factory = loop_factory
        self._creds = creds
        self._runner_factory = runner_factory
        self._settings = settings
        self._listeners: list[AgentListener] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._agent: Agent | None = None
        self._thread: threading.Thread | None = None
        self._state = AgentState.STOPPED
        self._pending: list[str] = []  # commands given before the loop was up

    def __repr__(self) -> str:
        return f"AgentThread(agent={self._creds.agent_id!r}, state={self._state.value!r})"

    @property
    def state(self) -> AgentState:
        """The agent's current state."""
        return self._state

    @property
    def agent_id(self) -> str:
        """The id of the agent this thread runs."""
        return self._creds.agent_id

    def add_listener(self, listener: AgentListener) -> None:
        """Receive every event (on the agent's thread)."""
        with self._lock:
            self._listeners.append(listener)

    def start(self) -> None:
        """Start the thread (no-op while it runs)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._main, name=f"agent-{self._creds.agent_id[:8]}",
                                            daemon=True)
            self._thread.start()

    def pause(self) -> None:
        """Claim nothing new until resumed."""
        self._command("pause")

    def resume(self) -> None:
        """Claim work again."""
        self._command("resume")

    def stop(self) -> None:
        """Finish the current job, then stop."""
        self._command("stop")

    def sync_now(self) -> None:
        """Sync the account now."""
        self._command("sync_now")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; return whether it did."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    # Internals ---------------------------------------------------------------------------------

    def _command(self, name: str) -> None:
        with self._lock:
            loop, agent = self._loop, self._agent
            if loop is None or agent is None:
                self._pending.append(name)
                return
        loop.call_soon_threadsafe(getattr(agent, name))

    def _emit(self, event: AgentEvent) -> None:
        if isinstance(event, StateChanged):
            self._state = event.state
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop trading
                log.exception("agent listener failed")

    def _main(self) -> None:
        detail = ""
        try:
            with asyncio.Runner(loop_factory=self._loop_factory) as runner:
                runner.run(self._run())
        except Exception:
            log.exception("the agent stopped on an unexpected error")
            detail = "The agent stopped on an unexpected error; the log file has the details."
        finally:
            # However the thread ends, its listeners hear that it stopped: the window shows it,
            # and the headless agent, which waits for it, exits instead of waiting for ever.
            if detail or self._state is not AgentState.STOPPED:
                self._emit(StateChanged(AgentState.STOPPED, detail))

    async def _run(self) -> None:
        data = await self._data_factory()
        try:
            try:
                runner = await self._runner_factory(data, self._creds, self._emit)
            except TnmError as exc:
                self._emit(StateChanged(AgentState.STOPPED, exc.message))
                return
            agent = Agent(data, self._creds, runner, settings=self._settings, emit=self._emit,
                          handover=self._handover)
            with self._lock:
                self._loop, self._agent = asyncio.get_running_loop(), agent
                pending, self._pending = self._pending, []
            for name in pending:
                getattr(agent, name)()
            await agent.run()
        finally:
            with self._lock:
                self._loop, self._agent = None, None
            await data.close()
