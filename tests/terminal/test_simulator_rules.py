"""The simulator enforces the broker's rules as an MT5 server does: volumes, filling, stops, money."""

from __future__ import annotations

import pytest
from tnm_desktop.terminal import mt5api as mt5

from tests.must import must
from tests.terminal.simhelp import frozen_simulator, market

BUY, SELL = mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL


@pytest.mark.parametrize(("symbol", "volume", "retcode"), [
    ("EURUSD.m", 0.001, mt5.TRADE_RETCODE_INVALID_VOLUME),  # below the minimum
    ("EURUSD.m", 0.015, mt5.TRADE_RETCODE_INVALID_VOLUME),  # off the 0.01 step
    ("EURUSD.m", 100.01, mt5.TRADE_RETCODE_INVALID_VOLUME),  # above the maximum
    ("EURUSD.m", 0.07, mt5.TRADE_RETCODE_DONE),
    ("US30.m", 0.05, mt5.TRADE_RETCODE_INVALID_VOLUME),  # the index trades in tenths
    ("US30.m", 0.15, mt5.TRADE_RETCODE_INVALID_VOLUME),
    ("US30.m", 0.3, mt5.TRADE_RETCODE_DONE),
    ("BTCUSD.m", 5.01, mt5.TRADE_RETCODE_INVALID_VOLUME),
])
def test_volume_min_step_max(symbol: str, volume: float, retcode: int) -> None:
    sim = frozen_simulator()
    assert market(sim, symbol, BUY, volume).retcode == retcode
    assert len(must(sim.positions_get())) == (1 if retcode == mt5.TRADE_RETCODE_DONE else 0)


@pytest.mark.parametrize(("symbol", "flags", "accepted"), [
    ("EURUSD.m", mt5.SYMBOL_FILLING_FOK, {mt5.ORDER_FILLING_FOK}),
    ("GBPUSD.m", mt5.SYMBOL_FILLING_IOC, {mt5.ORDER_FILLING_IOC}),
    ("USDJPY.m", mt5.SYMBOL_FILLING_FOK | mt5.SYMBOL_FILLING_IOC, {mt5.ORDER_FILLING_FOK, mt5.ORDER_FILLING_IOC}),
])
def test_filling_modes_differ_per_symbol(symbol: str, flags: int, accepted: set[int]) -> None:
    sim = frozen_simulator()
    assert must(sim.symbol_info(symbol)).filling_mode == flags
    for filling in (mt5.ORDER_FILLING_FOK, mt5.ORDER_FILLING_IOC, mt5.ORDER_FILLING_RETURN):
        result = market(sim, symbol, BUY, 0.01, filling=filling)
        expected = mt5.TRADE_RETCODE_DONE if filling in accepted else mt5.TRADE_RETCODE_INVALID_FILL
        assert (result.retcode, result.comment) == (expected, mt5.RETCODE_COMMENTS[expected])


def test_stops_level_is_measured_in_points_from_the_closing_price() -> None:
    sim = frozen_simulator()
    sim.control.set_price("XAUUSD.m", 2650.00)
    info = must(sim.symbol_info("XAUUSD.m"))
    assert (info.trade_stops_level, info.point) == (50, 0.01)
    too_close = market(sim, "XAUUSD.m", BUY, 0.1, sl=2649.51)  # 49 points below the bid
    assert too_close.retcode == mt5.TRADE_RETCODE_INVALID_STOPS
    assert market(sim, "XAUUSD.m", BUY, 0.1, tp=2650.49).retcode == mt5.TRADE_RETCODE_INVALID_STOPS
    ok = market(sim, "XAUUSD.m", BUY, 0.1, sl=2649.50, tp=2650.50)
    assert ok.retcode == mt5.TRADE_RETCODE_DONE
    # A sell's stops are measured from the ask (2650.25): a stop must be at least 0.50 above it.
    assert market(sim, "XAUUSD.m", SELL, 0.1, sl=2650.74).retcode == mt5.TRADE_RETCODE_INVALID_STOPS
    assert market(sim, "XAUUSD.m", SELL, 0.1, sl=2650.75).retcode == mt5.TRADE_RETCODE_DONE


def test_stops_on_the_wrong_side_or_off_the_tick_are_invalid_even_without_a_stops_level() -> None:
    sim = frozen_simulator()
    sim.control.set_price("EURUSD.m", 1.08500)
    assert must(sim.symbol_info("EURUSD.m")).trade_stops_level == 0
    assert market(sim, "EURUSD.m", BUY, 0.1, sl=1.08600).retcode == mt5.TRADE_RETCODE_INVALID_STOPS
    assert market(sim, "EURUSD.m", BUY, 0.1, sl=1.083005).retcode == mt5.TRADE_RETCODE_INVALID_STOPS
    assert market(sim, "EURUSD.m", SELL, 0.1, tp=1.08700).retcode == mt5.TRADE_RETCODE_INVALID_STOPS


def test_margin_and_profit_of_a_jpy_pair_convert_at_the_current_rate() -> None:
    sim = frozen_simulator()
    sim.control.set_price("USDJPY.m", 150.000)  # ask 150.015
    assert sim.order_calc_margin(BUY, "USDJPY.m", 1.0, 150.015) == pytest.approx(1000.00)  # 100 000 USD / 100
    assert sim.order_calc_profit(BUY, "USDJPY.m", 1.0, 150.000, 150.500) == pytest.approx(round(50_000 / 150.015, 2))
    assert sim.order_calc_profit(SELL, "USDJPY.m", 1.0, 150.000, 150.500) == pytest.approx(round(-50_000 / 150.000, 2))
    info = must(sim.symbol_info("USDJPY.m"))
    assert info.trade_tick_value_profit == pytest.approx(100 / 150.015)
    assert info.trade_tick_value_loss == pytest.approx(100 / 150.000)
    sim.control.set_price("USDJPY.m", 100.000)
    assert must(sim.symbol_info("USDJPY.m")).trade_tick_value == pytest.approx(100 / 100.015)


def test_margin_and_profit_of_gold_and_eurusd() -> None:
    sim = frozen_simulator()
    assert sim.order_calc_margin(BUY, "XAUUSD.m", 1.0, 2650.00) == pytest.approx(2650.00)  # 100 oz x price / 100
    assert sim.order_calc_profit(BUY, "XAUUSD.m", 0.5, 2650.00, 2660.00) == pytest.approx(500.00)
    assert sim.order_calc_profit(SELL, "XAUUSD.m", 0.5, 2650.00, 2660.00) == pytest.approx(-500.00)
    assert sim.order_calc_margin(SELL, "EURUSD.m", 1.0, 1.08500) == pytest.approx(1085.00)  # euros at the price
    info = must(sim.symbol_info("XAUUSD.m"))
    assert (info.trade_tick_size, info.trade_tick_value, info.trade_contract_size) == (0.01, 1.0, 100.0)


def test_account_margin_equity_and_free_margin_follow_the_positions() -> None:
    sim = frozen_simulator()
    sim.control.set_price("XAUUSD.m", 2650.00)
    sim.control.set_price("USDJPY.m", 150.000)
    gold = market(sim, "XAUUSD.m", BUY, 0.2)
    yen = market(sim, "USDJPY.m", SELL, 0.5)
    account = must(sim.account_info())
    expected_margin = round(0.2 * 100 * gold.price / 100, 2) + round(0.5 * 100_000 / 100, 2)
    assert account.margin == pytest.approx(expected_margin)
    sim.control.set_price("XAUUSD.m", 2660.00)
    sim.control.set_price("USDJPY.m", 149.000)
    account = must(sim.account_info())
    gold_profit = round((2660.00 - gold.price) * 0.2 * 100, 2)
    yen_profit = round((yen.price - 149.015) * 0.5 * 100_000 / 149.015, 2)
    assert account.profit == pytest.approx(gold_profit + yen_profit, abs=0.011)
    assert account.equity == pytest.approx(account.balance + account.profit)
    assert account.margin_free == pytest.approx(account.equity - account.margin)
    assert account.margin_level == pytest.approx(account.equity / account.margin * 100, abs=0.01)


def test_no_money_is_refused_and_order_check_says_so_first() -> None:
    sim = frozen_simulator()
    request = {"action": mt5.TRADE_ACTION_DEAL, "symbol": "XAUUSD.m", "volume": 5.0, "type": BUY,
               "type_filling": mt5.ORDER_FILLING_FOK}
    check = must(sim.order_check(request))
    assert (check.retcode, check.comment) == (mt5.TRADE_RETCODE_NO_MONEY, "No money")
    assert must(sim.order_send(request)).retcode == mt5.TRADE_RETCODE_NO_MONEY
    small = must(sim.order_check({**request, "volume": 0.1}))
    assert (small.retcode, small.comment) == (0, "Done")
    assert small.margin == pytest.approx(must(sim.order_calc_margin(BUY, "XAUUSD.m", 0.1, must(sim.symbol_info_tick(
        "XAUUSD.m")).ask)))
    assert sim.positions_total() == 0


def test_instant_execution_requotes_beyond_the_deviation() -> None:
    sim = frozen_simulator()
    tick = must(sim.symbol_info_tick("EURUSD.m"))
    request = {"action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD.m", "volume": 0.1, "type": BUY,
               "price": round(tick.ask - 0.00030, 5), "deviation": 10, "type_filling": mt5.ORDER_FILLING_FOK}
    requote = must(sim.order_send(request))
    assert (requote.retcode, requote.bid, requote.ask) == (mt5.TRADE_RETCODE_REQUOTE, tick.bid, tick.ask)
    assert must(sim.order_send({**request, "deviation": 30})).retcode == mt5.TRADE_RETCODE_DONE


def test_closed_market_disabled_auto_trading_and_lost_server_link() -> None:
    sim = frozen_simulator()
    sim.control.set_market_open("EURUSD.m", False)
    assert market(sim, "EURUSD.m", BUY, 0.1).retcode == mt5.TRADE_RETCODE_MARKET_CLOSED
    sim.control.set_market_open("EURUSD.m", True)
    sim.control.set_trade_allowed(False)
    assert must(sim.terminal_info()).trade_allowed is False
    result = market(sim, "EURUSD.m", BUY, 0.1)
    assert (result.retcode, result.comment) == (10027, "AutoTrading disabled by client")
    sim.control.set_trade_allowed(True)
    sim.control.set_connected(False)
    assert must(sim.terminal_info()).connected is False
    assert market(sim, "EURUSD.m", BUY, 0.1).retcode == mt5.TRADE_RETCODE_CONNECTION
    assert sim.positions_total() == 0


def test_comment_is_cut_to_31_characters_and_kept_with_the_magic() -> None:
    sim = frozen_simulator()
    comment = "tnm:0123456789abcdef0123456789abcdef"
    result = market(sim, "EURUSD.m", BUY, 0.1, comment=comment, magic=424242)
    assert result.request.comment == comment[:31]
    (position,) = must(sim.positions_get())
    (order,) = must(sim.history_orders_get(ticket=result.order))
    (deal,) = must(sim.history_deals_get(ticket=result.order))
    for record in (position, order, deal):
        assert (record.comment, record.magic) == (comment[:31], 424242)


def test_malformed_requests_never_reach_the_server() -> None:
    sim = frozen_simulator()
    assert sim.order_send({"action": 1, "symbol": "EURUSD.m", "volume": "0.1"}) is None
    assert sim.last_error() == (-2, 'Invalid "volume" argument')
    assert sim.order_send({"action": 1, "symbol": "EURUSD.m", "volume": 0.1, "colour": "red"}) is None
    assert sim.last_error() == (-2, "Invalid arguments")
    assert sim.history_orders_total(0, 2**40) == 0
