"""The terminal port's contract, run against the real adapter over both simulators."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from tnm_desktop.errors import UserError
from tnm_desktop.terminal.port import (
    DealEntry,
    DealKind,
    FillingMode,
    FillStatus,
    MarketOrder,
    Side,
    Timeframe,
    TradeMode,
)

from tests.terminal.conftest import Rig


def test_status_account_and_symbols(rig: Rig) -> None:
    status = rig.terminal.connect()
    assert (status.connected, status.trade_allowed, status.login, status.server) == (True, True, 51234567,
                                                                                     "TNM-Simulator")
    account = rig.terminal.account()
    assert (account.currency, account.leverage, account.balance, account.equity) == ("USD", 100, 10_000.0, 10_000.0)
    assert set(rig.terminal.symbol_names()) == {"EURUSD.m", "GBPUSD.m", "USDJPY.m", "XAUUSD.m", "US30.m", "BTCUSD.m"}
    assert rig.terminal.symbol_names("*JPY*") == ("USDJPY.m",)
    gold = rig.terminal.symbol("XAUUSD.m")
    assert (gold.digits, gold.point, gold.tick_size, gold.tick_value, gold.contract_size) == (2, 0.01, 0.01, 1.0, 100.0)
    assert (gold.volume_min, gold.volume_step, gold.volume_max, gold.stops_level) == (0.01, 0.01, 50.0, 50)
    assert (gold.filling_modes, gold.trade_mode, gold.currency_profit) == ((FillingMode.FOK,), TradeMode.FULL, "USD")
    yen = rig.terminal.symbol("USDJPY.m")
    assert yen.filling_modes == (FillingMode.FOK, FillingMode.IOC)
    assert yen.tick_value > yen.tick_value_profit  # a loss converts at the bid, a gain at the ask
    bitcoin = rig.terminal.symbol("BTCUSD.m")  # not in Market Watch until asked for
    assert rig.terminal.quote("BTCUSD.m").bid > 0 and bitcoin.volume_max == 5.0
    with pytest.raises(UserError, match="does not offer 'EURUSD'"):
        rig.terminal.symbol("EURUSD")


def test_market_buy_and_sell_with_stops(rig: Rig) -> None:
    quote = rig.terminal.quote("EURUSD.m")
    buy = rig.terminal.send_market_order(MarketOrder(
        "EURUSD.m", Side.BUY, 0.1, sl=round(quote.bid - 0.0050, 5), tp=round(quote.bid + 0.0080, 5), magic=11,
        comment="tnm:buy"))
    assert (buy.status, buy.retcode, buy.filled_volume, buy.filling, buy.attempts) == (
        FillStatus.FILLED, 10009, 0.1, FillingMode.FOK, 1)
    assert buy.price == quote.ask and buy.position == buy.order and buy.deal > 0
    sell = rig.terminal.send_market_order(MarketOrder("GBPUSD.m", Side.SELL, 0.25, comment="tnm:sell"))
    assert (sell.status, sell.filling) == (FillStatus.FILLED, FillingMode.IOC)  # the only mode GBPUSD.m accepts
    position = rig.terminal.position(buy.position)
    assert position is not None
    assert (position.symbol, position.side, position.volume, position.magic, position.comment) == (
        "EURUSD.m", Side.BUY, 0.1, 11, "tnm:buy")
    assert (position.sl, position.tp) == (round(quote.bid - 0.0050, 5), round(quote.bid + 0.0080, 5))
    assert [p.ticket for p in rig.terminal.positions("GBPUSD.m")] == [sell.position]
    assert {p.ticket for p in rig.terminal.positions()} == {buy.position, sell.position}
    assert rig.terminal.account().margin > 0


def test_partial_then_full_close(rig: Rig) -> None:
    opened = rig.terminal.send_market_order(MarketOrder("USDJPY.m", Side.BUY, 1.0, comment="tnm:close"))
    part = rig.terminal.close_position(opened.position, 0.35, comment="tnm:part")
    assert (part.status, part.filled_volume, part.position) == (FillStatus.FILLED, 0.35, opened.position)
    remaining = rig.terminal.position(opened.position)
    assert remaining is not None and remaining.volume == 0.65
    rest = rig.terminal.close_position(opened.position)
    assert (rest.status, rest.filled_volume) == (FillStatus.FILLED, 0.65)
    assert rig.terminal.position(opened.position) is None
    with pytest.raises(UserError, match="not open"):
        rig.terminal.close_position(opened.position)
    deals = [d for d in rig.terminal.deals_since(rig.now() - timedelta(minutes=1)) if d.symbol == "USDJPY.m"]
    assert [(d.entry, d.volume, d.comment) for d in deals] == [
        (DealEntry.IN, 1.0, "tnm:close"), (DealEntry.OUT, 0.35, "tnm:part"), (DealEntry.OUT, 0.65, "")]
    assert sum(d.profit for d in deals) == pytest.approx(rig.terminal.account().balance - 10_000.0)


def test_token_lookup_finds_a_position_closed_on_its_stop(rig: Rig) -> None:
    rig.control.set_price("EURUSD.m", 1.08500)
    opened = rig.terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.2, sl=1.08300, comment="tnm:7f3a"))
    rig.control.advance_time(30)
    rig.control.set_price("EURUSD.m", 1.08250)
    assert rig.terminal.position(opened.position) is None
    found = rig.terminal.find_by_token("tnm:7f3a")
    assert found.found and found.positions == () and found.pending_orders == ()
    assert found.position_ids == (opened.position,) and found.filled_volume == 0.2
    assert [(d.entry, d.comment) for d in found.deals] == [(DealEntry.IN, "tnm:7f3a"), (DealEntry.OUT, "[sl 1.08300]")]
    assert [o.comment for o in found.history_orders] == ["tnm:7f3a", "[sl 1.08300]"]
    assert not rig.terminal.find_by_token("tnm:none").found


def test_token_lookup_finds_open_positions_and_pending_orders(rig: Rig) -> None:
    opened = rig.terminal.send_market_order(MarketOrder("XAUUSD.m", Side.SELL, 0.1, comment="tnm:open-1"))
    found = rig.terminal.find_by_token("tnm:open-1")
    assert [p.ticket for p in found.positions] == [opened.position]
    assert found.position_ids == (opened.position,)


def test_deals_since_are_in_utc(rig: Rig) -> None:
    before = rig.terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1, comment="early"))
    rig.control.advance_time(120)
    since = rig.now()
    rig.control.advance_time(5)
    later = rig.terminal.send_market_order(MarketOrder("EURUSD.m", Side.SELL, 0.1, comment="late"))
    deals = rig.terminal.deals_since(since)
    assert [(d.order, d.kind, d.comment) for d in deals] == [(later.order, DealKind.SELL, "late")]
    assert deals[0].time == rig.now()
    everything = rig.terminal.deals_since(since - timedelta(hours=1))
    assert [d.kind for d in everything] == [DealKind.BALANCE, DealKind.BUY, DealKind.SELL]
    assert everything[1].order == before.order


def test_server_time_is_converted_to_utc(rig: Rig) -> None:
    assert rig.terminal.server_time_offset() == timedelta(seconds=rig.control.server_offset()) == timedelta(hours=2)
    now = rig.now()
    assert rig.terminal.quote("EURUSD.m").time == now
    opened = rig.terminal.send_market_order(MarketOrder("EURUSD.m", Side.BUY, 0.1))
    position = rig.terminal.position(opened.position)
    assert position is not None and position.opened_at == now


def test_candles(rig: Rig) -> None:
    candles = rig.terminal.candles("EURUSD.m", Timeframe.H1, 10)
    assert len(candles) == 10
    now = rig.now()
    assert candles[-1].time == now.replace(minute=0, second=0, microsecond=0)
    assert [b.time - a.time for a, b in pairwise(candles)] == [timedelta(hours=1)] * 9
    assert candles[-1].close == rig.terminal.quote("EURUSD.m").bid
    assert all(c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high for c in candles)
    daily = rig.terminal.candles("XAUUSD.m", Timeframe.D1, 3)
    assert daily[-1].time == (now + timedelta(hours=2)).replace(hour=0, minute=0, second=0, microsecond=0) - \
        timedelta(hours=2)  # a day opens at midnight server time
    with pytest.raises(UserError):
        rig.terminal.candles("NOPE.m", Timeframe.M1, 5)
