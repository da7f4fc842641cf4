"""Positions, pending orders and history in the simulator, as an MT5 terminal reports them."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import numpy as np
import pytest
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator import feed
from tnm_desktop.terminal.simulator.api import SimulatedMt5
from tnm_desktop.terminal.simulator.catalog import DEFAULT_SYMBOLS
from tnm_desktop.terminal.simulator.checked import state_from_json
from tnm_desktop.terminal.simulator.model import new_state, state_to_json

from tests.must import must
from tests.terminal.simhelp import EPOCH_MS, OFFSET_S, frozen_simulator, market

BUY, SELL = mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL
NOW_UTC = EPOCH_MS // 1000
NOW_SERVER = NOW_UTC + OFFSET_S


def test_history_is_in_trade_server_time() -> None:
    sim = frozen_simulator()
    result = market(sim, "EURUSD.m", BUY, 0.1, comment="server time")
    (deal,) = must(sim.history_deals_get(ticket=result.order))
    (position,) = must(sim.positions_get())
    assert deal.time == position.time == NOW_SERVER
    assert deal.time_msc == EPOCH_MS + OFFSET_S * 1000
    assert must(sim.symbol_info_tick("EURUSD.m")).time == NOW_SERVER
    # A window in UTC around "now" misses the deal; the same window in server time finds it.
    assert sim.history_deals_get(NOW_UTC - 60, NOW_UTC + 60) == ()
    found = must(sim.history_deals_get(datetime.fromtimestamp(NOW_SERVER - 60, UTC), datetime.fromtimestamp(
        NOW_SERVER + 60, UTC)))
    assert [d.comment for d in found] == ["Initial deposit", "server time"]
    assert sim.history_deals_total(NOW_SERVER - 60, NOW_SERVER + 60) == 2
    assert sim.history_orders_total(NOW_SERVER - 60, NOW_SERVER + 60) == 1


def test_history_filters_by_window_group_ticket_and_position_but_not_by_magic() -> None:
    sim = frozen_simulator()
    euro = market(sim, "EURUSD.m", BUY, 0.1, magic=1)
    gold = market(sim, "XAUUSD.m", SELL, 0.1, magic=2)
    window = (NOW_SERVER - 3600, NOW_SERVER + 86_400)
    assert {d.symbol for d in must(sim.history_deals_get(*window, group="*,!XAU*"))} == {"EURUSD.m", ""}
    assert [o.ticket for o in must(sim.history_orders_get(*window, group="XAU*"))] == [gold.order]
    assert [d.position_id for d in must(sim.history_deals_get(position=euro.order))] == [euro.order]
    assert [o.ticket for o in must(sim.history_orders_get(position=gold.order))] == [gold.order]
    with pytest.raises(TypeError):
        sim.history_deals_get(*window, magic=1)  # type: ignore[call-arg]
    assert sim.history_deals_get() is None
    assert sim.last_error() == (-2, "Invalid arguments")


def test_stop_loss_closes_on_a_price_move_and_overwrites_the_comment() -> None:
    sim = frozen_simulator()
    sim.control.set_price("EURUSD.m", 1.08500)
    opened = market(sim, "EURUSD.m", BUY, 0.2, sl=1.08200, tp=1.09000, comment="tnm:job-1", magic=77)
    balance = must(sim.account_info()).balance
    sim.control.step_price("EURUSD.m", -200)
    assert len(must(sim.positions_get())) == 1  # 1.08300: not there yet
    sim.control.step_price("EURUSD.m", -150)  # 1.08150: through the stop
    assert sim.positions_get() == ()
    deals = must(sim.history_deals_get(position=opened.order))
    assert [(d.entry, d.comment, d.reason) for d in deals] == [
        (mt5.DEAL_ENTRY_IN, "tnm:job-1", mt5.DEAL_REASON_EXPERT),
        (mt5.DEAL_ENTRY_OUT, "[sl 1.08200]", mt5.DEAL_REASON_SL)]
    closing = deals[1]
    assert closing.price == 1.08150 and closing.magic == 77
    assert closing.profit == pytest.approx(round((1.08150 - opened.price) * 0.2 * 100_000, 2))
    assert must(sim.account_info()).balance == pytest.approx(balance + closing.profit)
    orders = must(sim.history_orders_get(position=opened.order))
    assert [(o.comment, o.reason) for o in orders] == [("tnm:job-1", mt5.ORDER_REASON_EXPERT),
                                                        ("[sl 1.08200]", mt5.ORDER_REASON_SL)]


def test_take_profit_of_a_sell_triggers_while_time_passes() -> None:
    sim = frozen_simulator()
    sim.control.set_price("GBPUSD.m", 1.27000)
    opened = market(sim, "GBPUSD.m", SELL, 0.1, tp=1.26900)
    sim.control.set_price("GBPUSD.m", 1.26850)  # the ask is 1.26868: below the take profit
    closing = must(sim.history_deals_get(position=opened.order))[-1]
    assert (closing.comment, closing.reason, closing.price) == ("[tp 1.26900]", mt5.DEAL_REASON_TP, 1.26868)
    assert closing.profit == pytest.approx(round((opened.price - 1.26868) * 0.1 * 100_000, 2))
    # A far stop is never hit while the feed wanders for an hour.
    far = market(sim, "GBPUSD.m", BUY, 0.1, sl=1.20000)
    sim.control.advance_time(3600)
    assert [p.ticket for p in must(sim.positions_get())] == [far.order]


def test_partial_and_full_close_by_an_opposite_deal() -> None:
    sim = frozen_simulator()
    opened = market(sim, "USDJPY.m", BUY, 1.0, comment="open")
    part = market(sim, "USDJPY.m", SELL, 0.4, position=opened.order, comment="part")
    assert part.retcode == mt5.TRADE_RETCODE_DONE
    (position,) = must(sim.positions_get(ticket=opened.order))
    assert (position.volume, position.comment) == (0.6, "open")
    assert market(sim, "USDJPY.m", SELL, 0.7, position=opened.order).retcode == mt5.TRADE_RETCODE_INVALID_CLOSE_VOLUME
    assert market(sim, "USDJPY.m", BUY, 0.6, position=opened.order).retcode == mt5.TRADE_RETCODE_INVALID
    assert market(sim, "USDJPY.m", SELL, 0.6, position=opened.order).retcode == mt5.TRADE_RETCODE_DONE
    assert sim.positions_get() == ()
    deals = must(sim.history_deals_get(position=opened.order))
    assert [(d.entry, d.volume, d.comment) for d in deals] == [(0, 1.0, "open"), (1, 0.4, "part"), (1, 0.6, "")]
    assert market(sim, "USDJPY.m", SELL, 0.1, position=opened.order).retcode == mt5.TRADE_RETCODE_INVALID


def test_close_by_an_opposite_position() -> None:
    sim = frozen_simulator()
    long = market(sim, "XAUUSD.m", BUY, 0.3)
    short = market(sim, "XAUUSD.m", SELL, 0.1)
    result = must(sim.order_send({"action": mt5.TRADE_ACTION_CLOSE_BY, "position": long.order,
                             "position_by": short.order, "comment": "net"}))
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert [(p.ticket, p.volume) for p in must(sim.positions_get())] == [(long.order, 0.2)]
    (order,) = must(sim.history_orders_get(ticket=result.order))
    assert (order.type, order.position_id, order.position_by_id) == (mt5.ORDER_TYPE_CLOSE_BY, long.order, short.order)
    entries = {d.position_id: d.entry for d in must(sim.history_deals_get(ticket=result.order))}
    assert entries == {long.order: mt5.DEAL_ENTRY_OUT_BY, short.order: mt5.DEAL_ENTRY_OUT_BY}


def test_pending_orders_are_placed_modified_filled_and_removed() -> None:
    sim = frozen_simulator()
    sim.control.set_price("EURUSD.m", 1.08500)
    base = {"action": mt5.TRADE_ACTION_PENDING, "symbol": "EURUSD.m", "volume": 0.1,
            "type": mt5.ORDER_TYPE_BUY_LIMIT, "type_filling": mt5.ORDER_FILLING_RETURN, "magic": 5}
    assert must(sim.order_send({**base, "price": 1.08600})).retcode == mt5.TRADE_RETCODE_INVALID_PRICE  # above the ask
    placed = must(sim.order_send({**base, "price": 1.08300, "sl": 1.08100, "comment": "dip"}))
    assert placed.retcode == mt5.TRADE_RETCODE_PLACED
    (order,) = must(sim.orders_get(symbol="EURUSD.m"))
    assert (order.state, order.price_open, order.comment) == (mt5.ORDER_STATE_PLACED, 1.08300, "dip")
    modified = must(sim.order_send({"action": mt5.TRADE_ACTION_MODIFY, "order": placed.order, "price": 1.08350,
                               "sl": 1.08150}))
    assert modified.retcode == mt5.TRADE_RETCODE_DONE
    unchanged = {"action": mt5.TRADE_ACTION_MODIFY, "order": placed.order, "price": 1.08350, "sl": 1.08150}
    assert must(sim.order_send(unchanged)).retcode == mt5.TRADE_RETCODE_NO_CHANGES
    stop = must(sim.order_send({**base, "type": mt5.ORDER_TYPE_SELL_STOP, "price": 1.08000, "comment": "break"}))
    sim.control.set_price("EURUSD.m", 1.08330)  # the ask gaps to 1.08342: through the limit, not the stop
    (position,) = must(sim.positions_get())
    # A limit fills at its price or better: the gap gives the better price.
    assert (position.ticket, position.price_open, position.sl, position.comment) == (placed.order, 1.08342, 1.08150,
                                                                                      "dip")
    (filled,) = must(sim.history_orders_get(ticket=placed.order))
    assert filled.state == mt5.ORDER_STATE_FILLED
    removed = must(sim.order_send({"action": mt5.TRADE_ACTION_REMOVE, "order": stop.order}))
    assert removed.retcode == mt5.TRADE_RETCODE_DONE
    assert sim.orders_get() == ()
    assert must(sim.history_orders_get(ticket=stop.order))[0].state == mt5.ORDER_STATE_CANCELED


def test_sltp_modification() -> None:
    sim = frozen_simulator()
    sim.control.set_price("EURUSD.m", 1.08500)
    opened = market(sim, "EURUSD.m", SELL, 0.1)
    request = {"action": mt5.TRADE_ACTION_SLTP, "symbol": "EURUSD.m", "position": opened.order, "sl": 1.08700,
               "tp": 1.08000}
    assert must(sim.order_send(request)).retcode == mt5.TRADE_RETCODE_DONE
    assert must(sim.order_send(request)).retcode == mt5.TRADE_RETCODE_NO_CHANGES
    assert must(sim.order_send({**request, "sl": 1.08400})).retcode == mt5.TRADE_RETCODE_INVALID_STOPS
    (position,) = must(sim.positions_get())
    assert (position.sl, position.tp) == (1.08700, 1.08000)


def test_calls_fail_until_initialized_and_after_the_terminal_drops() -> None:
    sim = SimulatedMt5(state=new_state(now_ms=EPOCH_MS, manual_clock=True))
    assert sim.account_info() is None
    assert sim.last_error() == (mt5.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
    assert sim.initialize(login=999, server="TNM-Simulator") is False
    assert sim.last_error()[0] == mt5.RES_E_AUTH_FAILED
    assert sim.initialize(login=51234567, password="any", server="TNM-Simulator")
    sim.control.disconnect()
    assert sim.positions_get() is None
    assert sim.last_error()[0] in mt5.IPC_ERRORS
    assert sim.initialize() is False
    sim.control.reconnect()
    assert sim.positions_get() is None  # the old connection is gone for good
    assert sim.initialize() and sim.positions_get() == ()


def test_a_logged_out_terminal_has_no_account() -> None:
    sim = frozen_simulator()
    sim.control.set_logged_in(False)
    assert sim.terminal_info() is not None
    assert sim.account_info() is None
    assert sim.last_error() == (mt5.RES_E_AUTH_FAILED, "Terminal: Authorization failed")


def test_symbols_market_watch_and_group_masks() -> None:
    sim = frozen_simulator()
    assert sim.symbols_total() == 6
    assert [s.name for s in must(sim.symbols_get("*USD*,!EUR*,!GBP*"))] == ["USDJPY.m", "XAUUSD.m", "BTCUSD.m"]
    assert sim.symbol_info("EURUSD") is None  # the broker's names carry a suffix
    assert sim.symbol_info_tick("BTCUSD.m") is None  # not in Market Watch yet
    assert must(sim.symbol_info("BTCUSD.m")).bid == 0.0
    assert sim.control.quote("BTCUSD.m")[0] > 0  # the control API sees the market regardless
    assert sim.symbol_select("BTCUSD.m", True)
    assert must(sim.symbol_info_tick("BTCUSD.m")).bid > 0
    market(sim, "BTCUSD.m", BUY, 0.01)
    assert sim.symbol_select("BTCUSD.m", False) is False  # not while a position is open


def test_rates_are_numpy_bars_in_server_time_that_end_at_the_current_price() -> None:
    sim = frozen_simulator()
    rates = must(sim.copy_rates_from_pos("EURUSD.m", mt5.TIMEFRAME_H1, 0, 24))
    assert rates.dtype == mt5.RATES_DTYPE and len(rates) == 24
    assert rates["time"][-1] == NOW_SERVER // 3600 * 3600
    assert np.all(np.diff(rates["time"]) == 3600)
    assert np.all(rates["high"] >= np.maximum(rates["open"], rates["close"]))
    assert np.all(rates["low"] <= np.minimum(rates["open"], rates["close"]))
    assert rates["close"][-1] == must(sim.symbol_info_tick("EURUSD.m")).bid
    older = must(sim.copy_rates_from_pos("EURUSD.m", mt5.TIMEFRAME_H1, 1, 23))
    assert np.array_equal(older, rates[:-1])
    ranged = must(sim.copy_rates_range("EURUSD.m", mt5.TIMEFRAME_H1, int(rates["time"][0]), int(rates["time"][5])))
    assert np.array_equal(ranged, rates[:6])
    daily = must(sim.copy_rates_from("XAUUSD.m", mt5.TIMEFRAME_D1, NOW_SERVER, 3))
    assert list(np.diff(daily["time"])) == [86_400, 86_400]
    ticks = must(sim.copy_ticks_from("EURUSD.m", NOW_SERVER - 9, 100, mt5.COPY_TICKS_ALL))
    assert ticks.dtype == mt5.TICKS_DTYPE and list(ticks["time"]) == list(range(NOW_SERVER - 9, NOW_SERVER + 1))
    assert sim.copy_rates_from_pos("EURUSD.m", 12345, 0, 10) is None


def test_the_feed_is_determined_by_seed_and_time_and_survives_a_reload() -> None:
    first, second = frozen_simulator(seed=11), frozen_simulator(seed=11)
    other = frozen_simulator(seed=12)
    first.control.advance_time(90)
    second.control.advance_time(90)
    assert first.symbol_info_tick("GBPUSD.m") == second.symbol_info_tick("GBPUSD.m")
    assert must(first.symbol_info_tick("GBPUSD.m")).bid != must(other.symbol_info_tick("GBPUSD.m")).bid
    first.control.set_price("GBPUSD.m", 1.25000)
    reloaded = SimulatedMt5(state=state_from_json(state_to_json(first.engine.state)))
    assert reloaded.initialize()
    assert reloaded.symbol_info_tick("GBPUSD.m") == first.symbol_info_tick("GBPUSD.m")
    assert must(reloaded.copy_rates_from_pos("GBPUSD.m", mt5.TIMEFRAME_M1, 0, 5)).tolist() == \
        must(first.copy_rates_from_pos("GBPUSD.m", mt5.TIMEFRAME_M1, 0, 5)).tolist()


def test_one_moment_is_priced_to_the_bit_as_it_is_among_many() -> None:
    # A quote prices one moment on a faster path than bars and ticks; all of them must agree.
    rng = np.random.default_rng(7)
    moments = np.concatenate([rng.uniform(0, 4e9, 400), rng.integers(0, 4_000_000_000_000, 400) / 1000.0,
                              np.arange(1_700_000_000, 1_700_000_020, 0.5)])
    for seed, symbol in ((1, "EURUSD.m"), (987_654_321, "XAUUSD.m")):
        together = feed.noise(seed, symbol, 0.008, moments)
        alone = [float(feed.noise(seed, symbol, 0.008, np.array([m]))[0]) for m in moments]
        assert alone == together.tolist()


def test_a_few_moments_are_priced_to_the_bit_as_they_are_among_many() -> None:
    # Quotes and short scans price a few moments one by one (numpy scalars), bars and ticks many at
    # once (arrays): a stop must trigger at the price the chart shows.
    rng = np.random.default_rng(11)
    moments = np.concatenate([rng.integers(0, 4_000_000_000_000, 600),
                              np.arange(1_700_000_000_000, 1_700_000_020_000, 7)])
    shifts = [(1_700_000_005_000, 0.0012), (1_700_000_010_000, -0.5)]
    holds: list[tuple[int, float | None]] = [(1_700_000_003_000, 1.234567891), (1_700_000_008_000, None),
                                             (1_700_000_015_000, 0.000001)]
    for spec in DEFAULT_SYMBOLS:
        for moved, held in (([], []), (shifts, []), ([], holds), (shifts, holds)):
            together = feed.bids(spec, 5, moved, moments, held)
            alone = [float(feed.bids(spec, 5, moved, [int(m)], held)[0]) for m in moments]
            assert alone == together.tolist()
            # The broker's quote (Python floats all the way) is the same pair of numbers.
            quoted = [feed.quote_one(spec, 5, moved, held, int(m)) for m in moments]
            assert quoted == list(zip(together.tolist(), feed.asks(spec, together).tolist(), strict=True))


def test_rounding_in_python_is_numpys_to_the_bit() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.uniform(-3, 3, 20_000), rng.uniform(0, 200_000, 20_000),
                             [0.0, -0.0, 1e300, -1e-300, float("inf"), float("-inf")]])
    for digits in (0, 1, 2, 3, 5, 8):
        halfway = (np.round(values[:40_000] * 10.0**digits) + 0.5) / 10.0**digits  # ties: half to even
        for value in np.concatenate([values, halfway]).tolist():
            expected = float(np.round(np.float64(value), digits))
            got = feed.round_like_numpy(value, digits)
            assert (got, math.copysign(1, got)) == (expected, math.copysign(1, expected)), (value, digits)


def test_the_saved_state_is_every_field_of_every_record() -> None:
    sim = frozen_simulator()
    opened = market(sim, "EURUSD.m", BUY, 0.2, comment="a")
    market(sim, "EURUSD.m", SELL, 0.1, position=opened.order)
    sim.control.set_price("GBPUSD.m", 1.25)
    sim.control.inject_fault("requote", symbol="GBPUSD.m")
    state = sim.engine.state
    assert state.positions and state.deals and state.history_orders and state.shifts and state.faults
    assert state_to_json(state) == {**dataclasses.asdict(state), "version": 1}


def test_faults_are_counted_down_per_symbol_and_can_be_cleared() -> None:
    sim = frozen_simulator()
    sim.control.inject_fault("requote", symbol="GBPUSD.m", count=2)
    sim.control.inject_fault("ipc_timeout", function="account_info")
    assert [(f["kind"], f["count"]) for f in sim.control.faults()] == [("requote", 2), ("ipc_timeout", 1)]
    assert market(sim, "EURUSD.m", BUY, 0.1).retcode == mt5.TRADE_RETCODE_DONE  # another symbol: untouched
    assert market(sim, "GBPUSD.m", BUY, 0.1).retcode == mt5.TRADE_RETCODE_REQUOTE
    assert sim.control.faults()[0]["count"] == 1
    assert sim.account_info() is None and sim.last_error() == (-10005, "IPC timeout")
    assert sim.account_info() is not None
    sim.control.clear_faults()
    assert sim.control.faults() == []
    assert market(sim, "GBPUSD.m", BUY, 0.1).retcode == mt5.TRADE_RETCODE_DONE
    with pytest.raises(ValueError, match="only applies to order_send"):
        sim.control.inject_fault("requote", function="positions_get")
