"""Reads asked for ahead: several in one trip to the simulator, each answer used once and in turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.mt5_adapter import Mt5Terminal
from tnm_desktop.terminal.simulator.client import NO_IPC, RemoteMt5
from tnm_desktop.terminal.simulator.process import SimulatorProcess

from tests.must import must
from tests.terminal.simhelp import market

Connect = Callable[[], RemoteMt5]
AHEAD = [("account_info", ()), ("positions_get", ()), ("symbol_info_tick", ("EURUSD.m",))]


def _counted(connect: Connect) -> tuple[RemoteMt5, list[list[str]]]:
    # A client that notes each trip it makes for MT5 calls (the methods sent together).
    sim = connect()
    assert sim.initialize()
    trips: list[list[str]] = []
    exchange = sim._link.exchange

    def counting(target: str, calls: Any) -> Any:
        if target == "mt5":
            trips.append([method for method, _, _ in calls])
        return exchange(target, calls)

    sim._link.exchange = counting  # type: ignore[method-assign]
    return sim, trips


def _buy(sim: RemoteMt5) -> Any:
    bought = market(sim, "EURUSD.m", mt5.ORDER_TYPE_BUY, 0.1)
    assert bought.retcode == mt5.TRADE_RETCODE_DONE, bought
    return bought


def test_reads_asked_ahead_come_in_one_trip_and_answer_as_they_stood_then(served: SimulatorProcess,
                                                                           remote: Connect) -> None:
    sim, trips = _counted(remote)
    sim.ahead(AHEAD)
    sim.control.deposit(500)
    account, positions, tick = sim.account_info(), sim.positions_get(), sim.symbol_info_tick("EURUSD.m")
    assert trips == [["account_info", "positions_get", "symbol_info_tick"]]
    assert must(account).balance == 10_000.0 and positions == () and must(tick).ask > 0
    assert sim.last_error() == (mt5.RES_S_OK, "Success")
    # Each answer is used once: the next read is a trip of its own, and sees the deposit.
    assert must(sim.account_info()).balance == 10_500.0
    assert len(trips) == 2


def test_any_other_call_drops_what_was_asked_ahead(served: SimulatorProcess, remote: Connect) -> None:
    sim, trips = _counted(remote)
    sim.ahead([("symbol_info_tick", ("EURUSD.m",)), ("account_info", ())])
    # Another symbol's prices are not the ones asked for: its own answer, and the rest is dropped.
    gbp = must(sim.symbol_info_tick("GBPUSD.m"))
    assert (gbp.bid, gbp.ask) == sim.control.quote("GBPUSD.m") != sim.control.quote("EURUSD.m")
    sim.ahead(AHEAD)
    bought = _buy(sim)  # a trade between: the positions asked for before it are not used
    assert [p.ticket for p in must(sim.positions_get())] == [bought.order]
    assert [t[0] for t in trips][:3] == ["symbol_info_tick", "symbol_info_tick", "account_info"]
    assert [t[0] for t in trips][-2:] == ["order_send", "positions_get"]
    # A call with keyword arguments is another call too.
    sim.ahead([("positions_get", ())])
    assert must(sim.positions_get(symbol="GBPUSD.m")) == ()


def test_only_reads_can_be_asked_ahead(served: SimulatorProcess, remote: Connect) -> None:
    sim, trips = _counted(remote)
    with pytest.raises(ValueError, match="only reads"):
        sim.ahead([("account_info", ()), ("order_send", ({"action": mt5.TRADE_ACTION_DEAL},))])
    assert trips == []


def test_a_trip_that_fails_keeps_nothing_and_the_reads_report_it(served: SimulatorProcess, remote: Connect) -> None:
    sim, _ = _counted(remote)
    served.stop()
    sim.ahead(AHEAD)
    assert sim.account_info() is None
    assert sim.last_error() == NO_IPC


def test_the_terminal_reads_the_account_positions_and_prices_in_one_trip(served: SimulatorProcess,
                                                                        remote: Connect) -> None:
    sim, trips = _counted(remote)
    terminal = Mt5Terminal(sim)
    terminal.connect()
    bought = _buy(sim)
    terminal.account(), terminal.positions(), terminal.quote("EURUSD.m")  # connected, the server's clock known
    trips.clear()
    terminal.read_ahead("EURUSD.m")
    account, positions, quote = terminal.account(), terminal.positions(), terminal.quote("EURUSD.m")
    assert trips == [["account_info", "positions_get", "symbol_info_tick"]]
    assert [p.ticket for p in positions] == [bought.order]
    assert account.margin > 0 and quote.symbol == "EURUSD.m" and quote.ask > quote.bid
