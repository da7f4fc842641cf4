"""What an order costs the terminal: the calls it needs, and no more (the MetaTrader5 package runs one at a time)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from tnm_desktop.errors import OperationalError, TransientError
from tnm_desktop.terminal import mt5_adapter
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.mt5_adapter import Mt5Terminal
from tnm_desktop.terminal.port import FillStatus, MarketOrder, Side
from tnm_desktop.terminal.simulator.api import SimulatedMt5

from tests.terminal.conftest import clock_of
from tests.terminal.simhelp import frozen_simulator


class CountedMt5:
    """The simulator's MT5 API, counting each function called; ``netting`` makes its account a netting one."""

    def __init__(self, sim: SimulatedMt5, *, netting: bool = False) -> None:
        self._sim = sim
        self.netting = netting
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        function = getattr(self._sim, name)
        if not callable(function) or name == "last_error":
            return function

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            value = function(*args, **kwargs)
            if name == "account_info" and value is not None and self.netting:
                return value._replace(margin_mode=mt5.ACCOUNT_MARGIN_MODE_RETAIL_NETTING)
            return value

        return counted

    def taken(self) -> dict[str, int]:
        """Return the calls counted so far and start counting afresh."""
        calls, self.calls = dict(self.calls), Counter()
        return calls


def _terminal(*, netting: bool = False) -> tuple[Mt5Terminal, CountedMt5, SimulatedMt5]:
    sim = frozen_simulator()
    api = CountedMt5(sim, netting=netting)
    terminal = Mt5Terminal(api, clock=clock_of(sim.control))
    terminal.connect()
    terminal.account()
    terminal.symbol("EURUSD.m")  # what sizing reads just before an order
    api.taken()
    return terminal, api, sim


def test_an_order_after_sizing_is_a_price_and_the_order() -> None:
    terminal, api, _ = _terminal()
    opened = terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1, comment="tnm:a"))
    assert opened.status is FillStatus.FILLED and opened.position == opened.order
    assert api.taken() == {"symbol_info_tick": 1, "order_send": 1}
    (position,) = terminal.positions("EURUSD.m")
    api.taken()
    closed = terminal.close_position(position.ticket, comment="tnm:b", seen=position)
    assert closed.status is FillStatus.FILLED and closed.position == position.ticket
    assert api.taken() == {"symbol_info_tick": 1, "order_send": 1}
    assert terminal.positions() == ()


def test_a_netting_account_reads_the_position_an_order_went_to_from_its_deal() -> None:
    terminal, api, _ = _terminal(netting=True)
    opened = terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1, comment="tnm:n"))
    assert opened.position == opened.order  # the deal says so (the simulator hedges)
    assert api.taken() == {"symbol_info_tick": 1, "order_send": 1, "history_deals_get": 1}


def test_a_position_closed_since_it_was_seen_is_refused_not_sent_twice() -> None:
    terminal, _, sim = _terminal()
    opened = terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1, comment="tnm:s"))
    (seen,) = terminal.positions()
    assert terminal.close_position(opened.position).status is FillStatus.FILLED
    again = terminal.close_position(opened.position, seen=seen)
    assert (again.status, again.retcode) == (FillStatus.REJECTED, mt5.TRADE_RETCODE_INVALID)
    assert len([d for d in sim.history_deals_get(0, 2**40) or () if d.position_id == opened.position]) == 2


def test_what_the_order_says_of_the_terminal_is_told_as_before() -> None:
    # The terminal's state is no longer asked before each order: the order's own answer tells it.
    terminal, api, sim = _terminal()
    sim.control.set_connected(False)
    with pytest.raises(TransientError, match="no connection to the broker's trade server; nothing was sent"):
        terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1))
    sim.control.set_connected(True)
    sim.control.set_logged_in(False)
    with pytest.raises(OperationalError, match="not logged in") as raised:
        terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1))
    assert raised.value.code == "terminal_not_logged_in"
    assert sim.positions_total() is None or sim.positions_total() == 0
    assert api.calls["terminal_info"] == 1  # asked once, after the order said "no connection"


def test_an_order_right_after_its_quote_goes_out_at_that_price_without_reading_again() -> None:
    # Sizing reads the quote and places the stops from it; the order follows within milliseconds.
    terminal, api, sim = _terminal()
    quote = terminal.quote("EURUSD.m")
    api.taken()
    opened = terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1, comment="tnm:q"))
    assert opened.status is FillStatus.FILLED
    assert api.taken() == {"order_send": 1}
    (order,) = [o for o in sim.history_orders_get(0, 2**40) or () if o.comment == "tnm:q"]
    assert order.price_open == quote.ask
    # Used once: the next order reads the prices itself.
    terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1, comment="tnm:r"))
    assert api.taken() == {"symbol_info_tick": 1, "order_send": 1}


def test_a_close_right_after_a_quote_goes_out_at_that_price_without_reading_again() -> None:
    terminal, api, sim = _terminal()
    terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1, comment="tnm:c"))
    (position,) = terminal.positions("EURUSD.m")
    quote = terminal.quote("EURUSD.m")  # read with the account while the close's job was claimed
    api.taken()
    closed = terminal.close_position(position.ticket, comment="tnm:d", seen=position)
    assert closed.status is FillStatus.FILLED
    assert api.taken() == {"order_send": 1}
    (order,) = [o for o in sim.history_orders_get(0, 2**40) or () if o.comment == "tnm:d"]
    assert order.price_open == quote.bid


def test_a_quote_older_than_the_reuse_limit_or_for_another_symbol_is_read_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    terminal, api, _ = _terminal()
    terminal.quote("GBPUSD.m")
    api.taken()
    terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1, comment="tnm:g"))
    assert api.taken() == {"symbol_info_tick": 1, "order_send": 1}
    monkeypatch.setattr(mt5_adapter, "TICK_REUSE", 0.0)
    terminal.quote("EURUSD.m")
    api.taken()
    terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1, comment="tnm:o"))
    assert api.taken() == {"symbol_info_tick": 1, "order_send": 1}


def test_a_requote_of_the_reused_price_is_retried_with_a_fresh_tick() -> None:
    terminal, api, sim = _terminal()
    terminal.quote("EURUSD.m")
    sim.control.inject_fault("requote", symbol="EURUSD.m")
    api.taken()
    opened = terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1, comment="tnm:t"))
    assert opened.status is FillStatus.FILLED
    assert api.taken() == {"order_send": 2, "symbol_info_tick": 1}
