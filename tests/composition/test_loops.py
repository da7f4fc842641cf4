"""The event loops: psycopg and an agent trade work when the caller's loop refuses add_reader.

Each test here runs on :class:`~tests.loops.RefusingLoop`, which refuses ``add_reader``,
``add_writer`` and signal handlers exactly as Windows' proactor loop (and qasync's loop there)
does — what the GUI thread runs on Windows.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVarTuple

from tnm_desktop.agent.events import AgentEvent, StateChanged
from tnm_desktop.agent.thread import AgentThread
from tnm_desktop.composition.agent import runner_factory
from tnm_desktop.data.port import Change, LiveState, Table
from tnm_desktop.domain import AgentCredentials, AgentState
from tnm_desktop.loops import can_wait_on_sockets, on_selector_loop, selector_loop, stop_on_signals
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.client import RemoteMt5
from tnm_desktop.terminal.simulator.process import SimulatorProcess, start_simulator

from tests.agent.rig import TradeRig, make_rig
from tests.loops import RefusingLoop
from tests.pg import Db
from tests.waiting import eventually

Ts = TypeVarTuple("Ts")


async def test_the_loop_refuses_what_psycopg_needs_and_the_data_layer_goes_elsewhere() -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, RefusingLoop)
    assert not can_wait_on_sockets(loop)
    checked = selector_loop()
    try:
        assert can_wait_on_sockets(checked)
    finally:
        checked.close()

    async def where() -> tuple[str, bool]:
        return threading.current_thread().name, can_wait_on_sockets(asyncio.get_running_loop())

    assert await on_selector_loop(where) == ("psycopg-loop", True)


async def test_an_agent_trade_runs_when_every_loop_refuses_add_reader(db: Db, tmp_path: Path) -> None:
    # The GUI's loop (this test's) and the agent thread's both refuse add_reader: the window's
    # adapter, its live subscription and the agent's own adapter all reach PostgreSQL anyway.
    rig = await make_rig(db)
    simulator = start_simulator(tmp_path / "simulator" / "state.json")
    try:
        await _trade_on_refusing_loops(db, rig, simulator, tmp_path)
    finally:
        simulator.stop()  # whatever failed: a simulator process must not outlive its test


async def _trade_on_refusing_loops(db: Db, rig: TradeRig, simulator: SimulatorProcess, tmp_path: Path) -> None:
    seen_loops: set[type[asyncio.AbstractEventLoop]] = set()
    events: list[AgentEvent] = []

    def listen(event: AgentEvent) -> None:
        seen_loops.add(type(asyncio.get_running_loop()))  # called on the agent's own loop
        events.append(event)

    jobs: list[Change] = []
    subscription = await rig.adapter.subscribe([Table.JOBS], jobs.append)
    thread = AgentThread(rig.adapter.spawn(), AgentCredentials(rig.paired.id, rig.paired.key),
                         runner_factory(tmp_path / "ea", simulator.state_file), loop_factory=RefusingLoop)
    thread.add_listener(listen)
    try:
        await eventually(lambda: subscription.state is LiveState.LIVE, what="live updates")
        thread.start()
        await eventually(lambda: thread.state is AgentState.RUNNING, within=30, what="the agent running")
        # The job and its signal in one transaction, as ingestion writes them: apart, the signal's
        # foreign-key check would hold a lock on the new job that the claim skips.
        with db.admin.transaction():
            job_id, signal_id = rig.trade("buy", sizing={"mode": "lots", "lots": 0.2}, sl={"pips": 30})
        job = await rig.final(job_id, within=30)
        assert job["status"] == "completed", job["error_message"]
        # What the window sees, read and pushed through its own adapter on the refusing loop.
        (seen,) = await rig.adapter.get_jobs([job_id])
        assert seen.status == "completed"
        await eventually(lambda: any(c.id == job_id and c.row is not None and getattr(c.row, "status", "") ==
                                     "completed" for c in jobs), what="the completed job pushed live")
        signal_row = rig.signal(signal_id)
        assert signal_row["status"] == "executed"
    finally:
        thread.stop()
        assert await asyncio.to_thread(thread.join, 30)
        await subscription.close()
        await rig.adapter.close()
    client = RemoteMt5(simulator.state_file)
    try:
        assert client.initialize()
        window = (datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=2))
        deals = [d for d in client.history_deals_get(*window) or ()
                 if d.entry == mt5.DEAL_ENTRY_IN and d.comment.startswith(job["intent"]["token"])]
        assert [(d.symbol, d.volume, str(d.order)) for d in deals] == [
            ("EURUSD.m", 0.2, signal_row["broker_order_id"])]
    finally:
        client.close()
    assert seen_loops == {RefusingLoop}
    assert [e.state for e in events if isinstance(e, StateChanged)][-1] is AgentState.STOPPED


async def test_stop_signals_on_a_loop_without_signal_handlers() -> None:
    # Windows' loops have no add_signal_handler: a plain handler hands the stop to the loop.
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    before = signal.getsignal(signal.SIGTERM)
    restore = stop_on_signals(loop, stopped.set)
    try:
        assert signal.getsignal(signal.SIGTERM) is not before
        signal.raise_signal(signal.SIGTERM)
        await asyncio.wait_for(stopped.wait(), 10)
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is before


class _NoSignalHandlers(asyncio.SelectorEventLoop):
    """A selector loop without signal handlers: the loop the headless commands run on Windows."""

    def add_signal_handler(self, sig: int, callback: Callable[[*Ts], object], *args: *Ts) -> None:
        raise NotImplementedError

    def remove_signal_handler(self, sig: int) -> bool:
        raise NotImplementedError


def test_stop_signals_wake_a_selector_loop_through_its_wake_up_socket() -> None:
    seen: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        restore = stop_on_signals(loop, stopped.set)
        try:
            installed = signal.set_wakeup_fd(-1)
            signal.set_wakeup_fd(installed)
            assert installed != -1  # the loop's wake-up socket, which Windows' select() needs
            # From another thread, while the loop sleeps in select().
            threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
            await asyncio.wait_for(stopped.wait(), 10)
            seen.append("stopped")
        finally:
            restore()

    before = signal.getsignal(signal.SIGINT)
    with asyncio.Runner(loop_factory=_NoSignalHandlers) as runner:
        runner.run(main())
    assert seen == ["stopped"]
    assert signal.getsignal(signal.SIGINT) is before

