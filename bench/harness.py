"""The agent and the receiver as the app runs them, with clocks on the stages no table records.

The agent runs exactly as :class:`~tnm_desktop.agent.thread.AgentThread` runs it — its own
thread, its own event loop, its own connections, the job runner the app composes for a local
workspace — with two stamps added: when the job's notification reached the agent's listener
and when the agent was woken by it (after the live feed re-read the row, if it does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tnm_desktop.agent.events import AgentEvent, StateChanged
from tnm_desktop.agent.runner import TerminalRunner
from tnm_desktop.agent.wakeups import JobWakeups
from tnm_desktop.agent.worker import Agent, AgentSettings
from tnm_desktop.composition.agent import runner_factory
from tnm_desktop.data.live import ChangeFeed
from tnm_desktop.data.local.adapter import LocalAdapter
from tnm_desktop.data.local.live import LocalListener
from tnm_desktop.data.port import Change, Subscription
from tnm_desktop.domain import AgentCredentials, AgentState, ClaimedJob, Session
from tnm_desktop.domain.handover import Handover
from tnm_desktop.terminal import mt5api as mt5

from bench.common import BenchDb, Trader

# The app's defaults, except nothing scheduled that would land inside a measurement.
QUIET = AgentSettings(sync_every=3600.0)


class _TimedListener(LocalListener):
    def __init__(self, *args: Any, stamps: dict[str, float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stamps = stamps

    def _push(self, payload: str) -> None:
        now = time.time()
        with contextlib.suppress(ValueError, KeyError, TypeError):
            note = json.loads(payload)
            if note["table"] == "jobs" and note["op"] in ("insert", "waiting"):
                self._stamps.setdefault(str(note["id"]), now)
        super()._push(payload)


class CallClock:
    """How long each timed call took: ``(name, start, end)`` in ``perf_counter`` seconds, any thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float]] = []

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Return ``fn`` timed under ``name``."""
        calls = self.calls

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                calls.append((name, start, time.perf_counter()))  # list.append is atomic: any thread

        return timed

    def wrap_async(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """Return the coroutine function ``fn`` timed under ``name``."""
        calls = self.calls

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                calls.append((name, start, time.perf_counter()))

        return timed


def call_summary(calls: list[tuple[str, float, float]]) -> list[tuple[str, list[float]]]:
    """Each kind of call's durations in ms; the terminal's reads split into those around the order and the rest.

    A read made inside ``send_market_order``/``close_position`` is part of sending the order; the
    others are sizing's (and a close's look at its positions).
    """
    orders = [(start, end) for name, start, end in calls if name in ("send_market_order", "close_position")]
    out: dict[str, list[float]] = {}
    for name, start, end in calls:
        if name.startswith("mt5.") and name != "mt5.order_send":
            continue
        if name in TERMINAL_CALLS and name not in ("send_market_order", "close_position"):
            inside = any(s <= start and end <= e for s, e in orders)
            name = f"terminal {name}" + (" (inside the order call)" if inside else "")
        out.setdefault(name, []).append((end - start) * 1000)
    return sorted(out.items())


# The agent's calls a trade makes: to the database (one trip each) and to the terminal.
DATA_CALLS = ("claim_job", "record_intent", "complete_job", "fail_job", "complete_and_claim", "fail_and_claim",
              "risk_state")
TERMINAL_CALLS = ("symbol", "quote", "account", "positions", "position", "find_by_token", "send_market_order",
                  "close_position")


class TimedAdapter(LocalAdapter):
    """The local adapter, stamping when a new job's notification arrives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notified: dict[str, float] = {}

    def time_calls(self, clock: CallClock) -> None:
        """Time the agent's job calls from now on."""
        for name in DATA_CALLS:
            if hasattr(self, name):
                setattr(self, name, clock.wrap_async(name, getattr(self, name)))

    async def _listen(self, feed: ChangeFeed, channel: str | None) -> Subscription:
        # LocalQueries._listen with the stamping listener.
        listener = _TimedListener(self._conninfo, self._user_id(), feed, stamps=self.notified, channel=channel)
        await listener.start()
        self._subscriptions.append(listener)
        return listener


class TimedAgent(Agent):
    """The agent, stamping in ``woken`` when a new job woke it and in ``handed`` when one was
    handed over to it (the other arguments are the agent's)."""

    def __init__(self, *args: Any, woken: dict[str, float], handed: dict[str, float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handed_at = handed
        self._wakeups = _TimedWakeups(self._wake, woken)

    async def _handed_job(self) -> ClaimedJob | None:
        claimed = await super()._handed_job()
        if claimed is not None:
            self._handed_at[claimed.job.id] = time.time()
        return claimed


class _TimedWakeups(JobWakeups):
    """The agent's wake-up rules, stamping when a new job's announcement reached them."""

    def __init__(self, wake: asyncio.Event, woken: dict[str, float]) -> None:
        super().__init__(wake)
        self._woken = woken

    def on_change(self, change: Change) -> None:
        if change.op in ("insert", "waiting"):
            self._woken.setdefault(change.id, time.time())
        super().on_change(change)


class AgentHarness:
    """One agent on its own thread and loop, trading on the simulator behind ``simulator_state``.

    Args:
        db: The database.
        trader: Whose agent it is.
        simulator_state: The running simulator's state file (None: an in-process simulator).
        workdir: For the EA toolchain.
        settings: The agent's timings.
        runner_options: Options of the job runner (e.g. the position manager's ``stops`` timings).
        handover: Shared with a receiver, as the app shares one (:mod:`tnm_desktop.domain.handover`).
    """

    def __init__(self, db: BenchDb, trader: Trader, simulator_state: Path | None, workdir: Path, *,
                 settings: AgentSettings = QUIET, clock: CallClock | None = None,
                 runner_options: dict[str, Any] | None = None, handover: Handover | None = None) -> None:
        self._db = db
        self._handover = handover
        self._trader = trader
        self._simulator_state = simulator_state
        self._workdir = workdir
        self._settings = settings
        self.clock = clock
        self._runner_options = runner_options or {}
        self.notified: dict[str, float] = {}
        self.woken: dict[str, float] = {}
        self.handed: dict[str, float] = {}
        self.states: list[StateChanged] = []
        self._running = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._agent: Agent | None = None
        self._thread: threading.Thread | None = None
        self.thread_id: int | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Start; return once the agent says it is running."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="bench-agent", daemon=True)
        self._thread.start()
        if not self._running.wait(timeout):
            raise RuntimeError(f"the agent did not start: {self.states[-1:] or 'no state'}")

    def pause(self) -> None:
        """Let the agent finish its job and claim nothing more until :meth:`resume`."""
        assert self._loop is not None
        assert self._agent is not None
        self._loop.call_soon_threadsafe(self._agent.pause)

    def resume(self) -> None:
        """Let the agent claim again."""
        assert self._loop is not None
        assert self._agent is not None
        self._loop.call_soon_threadsafe(self._agent.resume)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the agent and wait for its thread."""
        if self._loop is not None and self._agent is not None:
            self._loop.call_soon_threadsafe(self._agent.stop)
        if self._thread is not None:
            self._thread.join(timeout)

    def _emit(self, event: AgentEvent) -> None:
        if isinstance(event, StateChanged):
            self.states.append(event)
            if event.state is AgentState.RUNNING:
                self._running.set()

    async def _main(self) -> None:
        self.thread_id = threading.get_native_id()
        trader = self._trader
        data = TimedAdapter(self._db.app, self._db.auth, "bench-session")
        data.act_as(Session(trader.user_id, trader.email, "local"))
        data.notified = self.notified
        creds = AgentCredentials(trader.agent_id, trader.key)
        try:
            runner = await runner_factory(self._workdir, self._simulator_state, **self._runner_options)(
                data, creds, self._emit)
            if self.clock is not None:
                assert isinstance(runner, TerminalRunner)  # the app's runner: its terminal calls are timed
                data.time_calls(self.clock)
                for name in TERMINAL_CALLS:
                    setattr(runner.terminal, name, self.clock.wrap(name, getattr(runner.terminal, name)))
                api = runner.terminal._api  # type: ignore[attr-defined]  # the MT5 module's functions
                for name in mt5.FUNCTIONS:
                    if name != "last_error":
                        setattr(api, name, self.clock.wrap("mt5." + name, getattr(api, name)))
            agent = TimedAgent(data, creds, runner, settings=self._settings, emit=self._emit, handover=self._handover,
                               woken=self.woken, handed=self.handed)
            self._loop, self._agent = asyncio.get_running_loop(), agent
            await agent.run()
        finally:
            await data.close()
