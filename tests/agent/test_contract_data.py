"""A symbol's contract data is read once per symbol; what moves is read on every trade."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from tnm_desktop.agent.runner import TerminalRunner
from tnm_desktop.terminal.mt5_adapter import Mt5Terminal
from tnm_desktop.terminal.port import MarketOrder, OrderOutcome, Quote, SymbolSpec
from tnm_desktop.terminal.simulator.api import SimulatedMt5

from tests.agent.rig import TradeRig, make_rig
from tests.pg import Db


class CountingTerminal(Mt5Terminal):
    """The real adapter, counting the reads sizing depends on."""

    def __init__(self, api: SimulatedMt5) -> None:
        super().__init__(api)
        self.symbol_reads: list[str] = []
        self.quotes: list[str] = []
        self.seen: list[str] = []  # quotes and orders, in order

    def send_market_order(self, order: MarketOrder) -> OrderOutcome:
        self.seen.append("order")
        return super().send_market_order(order)

    def symbol(self, name: str) -> SymbolSpec:
        self.symbol_reads.append(name)
        return super().symbol(name)

    def quote(self, name: str) -> Quote:
        self.quotes.append(name)
        self.seen.append("quote")
        return super().quote(name)


@pytest_asyncio.fixture
async def counted(db: Db) -> AsyncIterator[tuple[TradeRig, CountingTerminal]]:
    rig = await make_rig(db)
    terminal = CountingTerminal(SimulatedMt5(rig.sim.engine))
    await rig.start(TerminalRunner(rig.adapter, rig.creds, terminal, emit=rig.events.append, reconcile_wait=0.3))
    yield rig, terminal
    await rig.stop()
    await rig.adapter.close()


async def _trade(rig: TradeRig, terminal: CountingTerminal, *args: str, **kwargs: object) -> tuple[str, int]:
    before = len(terminal.symbol_reads)
    job_id, _ = rig.trade(*args, **kwargs)  # type: ignore[arg-type]
    job = await rig.final(job_id)
    return str(job["status"]), len(terminal.symbol_reads) - before


async def test_sizing_reuses_contract_data_but_never_a_quote(counted: tuple[TradeRig, CountingTerminal]) -> None:
    rig, terminal = counted
    risk = {"sizing": {"mode": "risk", "risk_pct": 0.5}, "sl": {"pips": 30}}
    # The first trade reads the contract, and its order goes out with what sizing read; later trades
    # read no contract, but every one reads the quote (while its job is claimed, or before it).
    assert await _trade(rig, terminal, "buy", "EURUSD", **risk) == ("completed", 1)
    assert await _trade(rig, terminal, "sell", "EURUSD", **risk) == ("completed", 0)
    assert await _trade(rig, terminal, "buy", "EURUSD", sizing={"mode": "lots", "lots": 0.1}) == ("completed", 0)
    assert set(terminal.quotes) == {"EURUSD.m"}
    orders = "".join("o" if e == "order" else "q" for e in terminal.seen)
    assert orders.count("o") == 3 and "oo" not in orders and orders.startswith("q"), orders


async def test_risk_sizing_rereads_a_tick_value_that_moves_with_the_rate(
        counted: tuple[TradeRig, CountingTerminal]) -> None:
    rig, terminal = counted
    risk = {"sizing": {"mode": "risk", "risk_pct": 0.5}, "sl": {"pips": 30}}
    # USDJPY's profit currency is not the account's: its tick value follows USDJPY itself.
    assert await _trade(rig, terminal, "buy", "USDJPY", **risk) == ("completed", 1)
    assert await _trade(rig, terminal, "buy", "USDJPY", **risk) == ("completed", 1)
    # Fixed lots do not depend on the tick value.
    assert await _trade(rig, terminal, "buy", "USDJPY", sizing={"mode": "lots", "lots": 0.1}) == ("completed", 0)


async def test_a_refused_order_makes_the_next_one_read_the_contract_afresh(
        counted: tuple[TradeRig, CountingTerminal]) -> None:
    rig, terminal = counted
    assert await _trade(rig, terminal, "buy", "GBPUSD") == ("completed", 1)
    rig.sim.control.inject_fault("reject", symbol="GBPUSD.m", retcode=10014)
    assert await _trade(rig, terminal, "buy", "GBPUSD") == ("failed", 0)
    # Both the agent and the terminal's adapter forget what they knew of the symbol.
    assert await _trade(rig, terminal, "buy", "GBPUSD") == ("completed", 1)


async def test_reconnecting_to_the_terminal_forgets_contract_data(
        counted: tuple[TradeRig, CountingTerminal]) -> None:
    rig, _ = counted
    terminal = Mt5Terminal(SimulatedMt5(rig.sim.engine))
    runner = TerminalRunner(rig.adapter, rig.creds, terminal)
    runner.trades._contracts["EURUSD.m"] = (terminal.symbol("EURUSD.m"), 0.0)
    await runner.start()  # another login may be another broker with other symbols
    assert runner.trades._contracts == {}
    await runner.close()
