"""The account (and the prices of the symbol entered last) are read while a job is being claimed; an
entry never uses a read older than a trade."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from tnm_desktop.agent.closing import WARM_TTL
from tnm_desktop.agent.events import LogLine
from tnm_desktop.agent.runner import TerminalRunner
from tnm_desktop.agent.worker import Agent
from tnm_desktop.domain import AgentState
from tnm_desktop.terminal.mt5_adapter import Mt5Terminal
from tnm_desktop.terminal.port import AccountSnapshot, MarketOrder, OrderOutcome, Quote, Side
from tnm_desktop.terminal.simulator.api import SimulatedMt5

from tests.agent.fakes import CountingPort
from tests.agent.rig import FAST, TradeRig, make_rig
from tests.pg import Db
from tests.waiting import eventually


class RecordingTerminal(Mt5Terminal):
    """The real adapter over the simulator, noting each account read, quote and order sent, in order."""

    def __init__(self, api: SimulatedMt5) -> None:
        super().__init__(api)
        self.seen: list[str] = []
        self.quotes: list[Quote] = []
        self.sent: list[MarketOrder] = []

    def account(self) -> AccountSnapshot:
        self.seen.append("account")
        return super().account()

    def quote(self, name: str) -> Quote:
        self.seen.append(f"quote {name}")
        quote = super().quote(name)
        self.quotes.append(quote)
        return quote

    def send_market_order(self, order: MarketOrder) -> OrderOutcome:
        self.seen.append("order")
        self.sent.append(order)
        return super().send_market_order(order)


@dataclass
class Held:
    """An agent whose claims the test can hold on their way to the database."""

    rig: TradeRig
    port: CountingPort
    terminal: RecordingTerminal
    runner: TerminalRunner
    claim: asyncio.Event

    def reads(self) -> int:
        return self.terminal.seen.count("account")


@pytest_asyncio.fixture
async def held(db: Db) -> AsyncIterator[Held]:
    rig = await make_rig(db)
    port = CountingPort(rig.adapter)
    terminal = RecordingTerminal(SimulatedMt5(rig.sim.engine))
    runner = TerminalRunner(port, rig.creds, terminal, emit=rig.events.append, reconcile_wait=0.3, risk_every=3600)
    agent = Agent(port, rig.creds, runner, settings=FAST, emit=rig.events.append)
    task = asyncio.get_running_loop().create_task(agent.run())
    try:
        # Running and idle, its first account sync done: the terminal sees only what the tests do.
        await eventually(lambda: agent.state is AgentState.RUNNING and "claim_job" in port.returned and any(
            isinstance(e, LogLine) and e.text.startswith("Account synced") for e in rig.events))
        claim = asyncio.Event()
        port.gates["claim_job"] = claim  # from now on each claim waits for the test
        yield Held(rig, port, terminal, runner, claim)
    finally:
        port.gates.pop("claim_job").set()
        agent.stop()
        await asyncio.wait_for(task, 10)
        await rig.adapter.close()


async def _claim_held_after_a_read(held: Held, job_id: str) -> None:
    # The job woke the agent: its claim is held, and the account was read meanwhile.
    reads = held.reads()
    await eventually(lambda: held.port.under_way["claim_job"] == 1 and held.reads() > reads,
                     what="the account read while the claim is on its way")
    assert held.rig.job(job_id)["status"] == "pending"


async def _released(held: Held, job_id: str) -> int:
    # Let the held claim through and wait for its job to complete; return where in ``seen`` it began.
    after = len(held.terminal.seen)
    held.claim.set()
    job = await held.rig.final(job_id)
    assert job["status"] == "completed", job["error_message"]
    return after


async def test_an_entry_uses_the_account_read_while_its_job_was_claimed(held: Held) -> None:
    job_id, _ = held.rig.trade("buy", "EURUSD")
    await _claim_held_after_a_read(held, job_id)
    after = await _released(held, job_id)
    # No second read of the account before the order (only the prices of a symbol not entered yet).
    assert held.terminal.seen[after:after + 2] == ["quote EURUSD.m", "order"]


async def _traded(held: Held, symbol: str) -> None:
    # An entry on ``symbol``: the agent now knows its contract and reads its prices with the account.
    job_id, _ = held.rig.trade("buy", symbol)
    await _claim_held_after_a_read(held, job_id)
    await _released(held, job_id)
    held.claim.clear()


async def test_an_entry_on_the_symbol_entered_last_uses_the_prices_read_during_its_claim(held: Held) -> None:
    await _traded(held, "EURUSD")
    job_id, _ = held.rig.trade("buy", "EURUSD", sizing={"mode": "risk", "risk_pct": 1},
                               sl={"pips": 20})
    await _claim_held_after_a_read(held, job_id)
    await eventually(lambda: held.terminal.seen[-1] == "quote EURUSD.m", what="the prices read with the account")
    warm = held.terminal.quotes[-1]
    after = await _released(held, job_id)
    # Nothing read between the claim and the order; its stop was placed from the prices read then.
    assert held.terminal.seen[after] == "order"
    order = held.terminal.sent[-1]
    assert order.sl is not None and abs(order.sl - (warm.ask - 0.0020)) < 1e-9


async def test_an_entry_on_another_symbol_reads_its_prices(held: Held) -> None:
    await _traded(held, "EURUSD")
    job_id, _ = held.rig.trade("buy", "GBPUSD")
    await _claim_held_after_a_read(held, job_id)
    after = await _released(held, job_id)
    sent = held.terminal.seen.index("order", after)
    assert "quote GBPUSD.m" in held.terminal.seen[after:sent]


async def test_a_position_opened_during_the_claim_counts_against_the_limit(held: Held) -> None:
    held.rig.db.admin.execute("update user_settings set max_open_positions = 1 where user_id = %s",
                              (held.rig.user.id,))
    job_id, _ = held.rig.trade("buy", "EURUSD")
    await _claim_held_after_a_read(held, job_id)
    # While the claim is on its way, a position opens through the agent's terminal (as a managed
    # target or another request would): the read taken before it must not be used.
    opened = await held.runner.call(held.terminal.send_market_order, MarketOrder("GBPUSD.m", Side.BUY, 0.1))
    assert opened.executed
    held.claim.set()
    job = await held.rig.final(job_id)
    assert (job["status"], job["error_code"]) == ("failed", "max_positions")
    assert len(held.rig.sim.positions_get() or ()) == 1


async def test_a_read_older_than_its_limit_is_made_again(held: Held) -> None:
    job_id, _ = held.rig.trade("buy", "EURUSD")
    await _claim_held_after_a_read(held, job_id)
    await asyncio.sleep(WARM_TTL * 3)
    after = await _released(held, job_id)
    assert held.terminal.seen[after:after + 2] == ["account", "quote EURUSD.m"]
    assert held.terminal.seen[after + 2] == "order"
