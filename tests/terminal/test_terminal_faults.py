"""Each fault the terminal can throw ends in the right outcome or error, over both simulators."""

from __future__ import annotations

import pytest
from tnm_desktop.errors import OperationalError, TransientError
from tnm_desktop.terminal.port import FillingMode, FillStatus, MarketOrder, Side

from tests.terminal.conftest import Rig


def _buy(rig: Rig, symbol: str = "EURUSD.m", volume: float = 0.1, comment: str = "tnm:f") -> MarketOrder:
    return MarketOrder(symbol, Side.BUY, volume, comment=comment)


def test_requotes_are_retried_with_a_fresh_price_then_filled(rig: Rig) -> None:
    rig.control.inject_fault("requote", symbol="EURUSD.m", count=2)
    rig.control.inject_fault("price_changed", symbol="EURUSD.m")
    outcome = rig.terminal.send_market_order(_buy(rig))
    assert (outcome.status, outcome.attempts, outcome.filled_volume) == (FillStatus.FILLED, 4, 0.1)
    assert len(rig.terminal.positions()) == 1


def test_requotes_beyond_the_retry_budget_are_rejected(rig: Rig) -> None:
    rig.control.inject_fault("requote", count=10)
    outcome = rig.terminal.send_market_order(_buy(rig))
    assert (outcome.status, outcome.retcode, outcome.message, outcome.attempts) == (
        FillStatus.REJECTED, 10004, "Requote", 4)
    assert rig.terminal.positions() == ()


def test_a_partial_fill_reports_the_filled_volume(rig: Rig) -> None:
    rig.control.inject_fault("partial", symbol="GBPUSD.m", volume=0.3)
    outcome = rig.terminal.send_market_order(_buy(rig, "GBPUSD.m", 1.0))
    assert (outcome.status, outcome.retcode, outcome.filled_volume, outcome.requested_volume) == (
        FillStatus.PARTIAL, 10010, 0.3, 1.0)
    position = rig.terminal.position(outcome.position)
    assert position is not None and position.volume == 0.3


@pytest.mark.parametrize(("retcode", "message"), [
    (10018, "Market closed"), (10019, "No money"), (10017, "Trade disabled"), (10006, "Liquidity provider offline")])
def test_a_rejection_carries_the_broker_message_and_is_not_retried(rig: Rig, retcode: int, message: str) -> None:
    rig.control.inject_fault("reject", retcode=retcode, message=message)
    outcome = rig.terminal.send_market_order(_buy(rig))
    assert (outcome.status, outcome.retcode, outcome.message, outcome.attempts) == (
        FillStatus.REJECTED, retcode, message, 1)
    assert rig.terminal.positions() == ()


def test_invalid_stops_from_the_broker_are_rejected_once(rig: Rig) -> None:
    quote = rig.terminal.quote("XAUUSD.m")
    outcome = rig.terminal.send_market_order(MarketOrder("XAUUSD.m", Side.BUY, 0.1, sl=round(quote.bid - 0.2, 2)))
    assert (outcome.status, outcome.retcode, outcome.message, outcome.attempts) == (
        FillStatus.REJECTED, 10016, "Invalid stops", 1)


def test_an_unsupported_filling_mode_is_retried_with_the_next_allowed_one(rig: Rig) -> None:
    rig.control.inject_fault("reject", symbol="USDJPY.m", retcode=10030)
    outcome = rig.terminal.send_market_order(_buy(rig, "USDJPY.m"))
    assert (outcome.status, outcome.filling, outcome.attempts) == (FillStatus.FILLED, FillingMode.IOC, 2)


def test_a_symbol_that_accepts_no_other_mode_ends_rejected(rig: Rig) -> None:
    rig.control.inject_fault("reject", symbol="EURUSD.m", retcode=10030)
    outcome = rig.terminal.send_market_order(_buy(rig))
    assert (outcome.status, outcome.retcode, outcome.attempts) == (FillStatus.REJECTED, 10030, 3)
    assert rig.terminal.positions() == ()


@pytest.mark.parametrize("filled", [False, True])
def test_a_timeout_is_unknown_and_the_token_tells_whether_it_filled(rig: Rig, filled: bool) -> None:
    rig.control.inject_fault("timeout", filled=filled)
    outcome = rig.terminal.send_market_order(_buy(rig, comment="tnm:t1"))
    assert (outcome.status, outcome.retcode, outcome.attempts) == (FillStatus.UNKNOWN, 10012, 1)
    assert "looked up" in outcome.message
    found = rig.terminal.find_by_token("tnm:t1")
    assert found.found is filled
    assert found.filled_volume == (0.1 if filled else 0.0)


def test_a_lost_trade_server_link_during_the_send_is_unknown(rig: Rig) -> None:
    rig.control.inject_fault("connection")
    outcome = rig.terminal.send_market_order(_buy(rig))
    assert (outcome.status, outcome.retcode) == (FillStatus.UNKNOWN, 10031)


def test_a_reply_lost_after_the_fill_is_unknown_and_the_token_finds_the_order(rig: Rig) -> None:
    rig.control.inject_fault("lose_reply")
    outcome = rig.terminal.send_market_order(_buy(rig, comment="tnm:lost"))
    assert (outcome.status, outcome.retcode) == (FillStatus.UNKNOWN, None)
    assert "IPC timeout" in outcome.message
    found = rig.terminal.find_by_token("tnm:lost")
    assert found.filled_volume == 0.1 and len(found.positions) == 1
    assert [o.comment for o in found.history_orders] == ["tnm:lost"]


def test_a_dropped_terminal_raises_transient_errors_until_it_is_back(rig: Rig) -> None:
    rig.terminal.connect()
    rig.control.disconnect()
    with pytest.raises(TransientError, match="MetaTrader 5"):
        rig.terminal.positions()
    with pytest.raises(TransientError):
        rig.terminal.send_market_order(_buy(rig))  # nothing can be sent while it is down
    rig.control.reconnect()
    assert rig.terminal.positions() == ()  # the adapter initializes again by itself


def test_a_terminal_dropping_during_the_send_leaves_the_order_unknown(rig: Rig) -> None:
    rig.control.inject_fault("disconnect", filled=True)
    outcome = rig.terminal.send_market_order(_buy(rig, comment="tnm:drop"))
    assert outcome.status is FillStatus.UNKNOWN
    with pytest.raises(TransientError):
        rig.terminal.find_by_token("tnm:drop")
    rig.control.reconnect()
    assert rig.terminal.find_by_token("tnm:drop").filled_volume == 0.1


def test_an_ipc_timeout_on_a_read_is_transient(rig: Rig) -> None:
    rig.terminal.connect()
    rig.control.inject_fault("ipc_timeout", function="positions_get")
    with pytest.raises(TransientError, match="IPC timeout"):
        rig.terminal.positions()
    assert rig.terminal.positions() == ()


def test_auto_trading_disabled_stops_with_an_operational_error(rig: Rig) -> None:
    rig.control.set_trade_allowed(False)
    assert rig.terminal.status().trade_allowed is False
    with pytest.raises(OperationalError, match="Algo Trading") as raised:
        rig.terminal.send_market_order(_buy(rig))
    assert raised.value.code == "auto_trading_disabled"
    rig.control.set_trade_allowed(True)
    rig.control.inject_fault("reject", retcode=10027)  # switched off between the check and the send
    with pytest.raises(OperationalError, match="Algo Trading"):
        rig.terminal.send_market_order(_buy(rig))
    assert rig.terminal.positions() == ()


def test_a_terminal_not_logged_in_stops_with_an_operational_error(rig: Rig) -> None:
    rig.control.set_logged_in(False)
    with pytest.raises(OperationalError, match="not logged in") as raised:
        rig.terminal.account()
    assert raised.value.code == "terminal_not_logged_in"
    with pytest.raises(OperationalError, match="not logged in"):
        rig.terminal.send_market_order(_buy(rig))
    assert rig.terminal.status().login is None


def test_no_link_to_the_trade_server_sends_nothing(rig: Rig) -> None:
    rig.control.set_connected(False)
    with pytest.raises(TransientError, match="trade server"):
        rig.terminal.send_market_order(_buy(rig))
    rig.control.set_connected(True)
    assert rig.terminal.positions() == ()
