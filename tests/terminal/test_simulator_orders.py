"""Order management in the simulator with MT5's semantics: stop-limit orders, the freeze level,
day orders, and a price path a test scripts tick by tick."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator import triggers
from tnm_desktop.terminal.simulator.api import SimulatedMt5
from tnm_desktop.terminal.simulator.engine import Engine
from tnm_desktop.terminal.simulator.model import new_state
from tnm_desktop.terminal.simulator.store import StateFile

from tests.must import must
from tests.terminal.simhelp import EPOCH_MS, OFFSET_S, frozen_simulator, market

PENDING = {"action": mt5.TRADE_ACTION_PENDING, "volume": 0.1, "type_filling": mt5.ORDER_FILLING_RETURN}


def test_a_held_price_stays_exactly_where_it_is_put_until_moved_or_released() -> None:
    sim = frozen_simulator()
    assert sim.control.hold_price("EURUSD.m", 1.07000) == 1.07000
    for _ in range(5):
        sim.control.advance_time(37)  # the feed would wander; a held price does not
        assert must(sim.symbol_info_tick("EURUSD.m")).bid == 1.07000
    assert sim.control.set_price("EURUSD.m", 1.07123) == 1.07123  # a move while held is held too
    sim.control.advance_time(60)
    assert must(sim.symbol_info_tick("EURUSD.m")).bid == 1.07123
    # The bars of the held stretch show the held prices, as MT5's history would.
    rates = must(sim.copy_rates_from_pos("EURUSD.m", mt5.TIMEFRAME_M1, 0, 1))
    assert rates[0]["close"] == 1.07123
    assert sim.control.release_price("EURUSD.m") == 1.07123  # released without a jump
    sim.control.advance_time(3600)
    assert must(sim.symbol_info_tick("EURUSD.m")).bid != 1.07123  # and wandering again


def test_a_held_path_triggers_stops_exactly_where_the_path_crosses_them() -> None:
    sim = frozen_simulator()
    sim.control.hold_price("EURUSD.m", 1.08500)
    opened = market(sim, "EURUSD.m", mt5.ORDER_TYPE_BUY, 0.1, sl=1.08300)
    for bid in (1.08450, 1.08310, 1.08301):
        sim.control.advance_time(1)
        sim.control.hold_price("EURUSD.m", bid)
        assert [p.ticket for p in must(sim.positions_get())] == [opened.order]
    sim.control.advance_time(1)
    sim.control.hold_price("EURUSD.m", 1.08300)
    assert sim.positions_get() == ()
    closing = [d for d in must(sim.history_deals_get(position=opened.order)) if d.entry == mt5.DEAL_ENTRY_OUT]
    assert [(d.price, d.reason) for d in closing] == [(1.08300, mt5.DEAL_REASON_SL)]


def test_holds_survive_a_restart_of_the_simulator(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store, state = StateFile(path).open(lambda: new_state(now_ms=EPOCH_MS, manual_clock=True, seed=7))
    sim = SimulatedMt5(Engine(state, on_change=store.save))
    assert sim.initialize()
    sim.control.hold_price("GBPUSD.m", 1.25000)
    store.close()
    again, kept = StateFile(path).open(lambda: new_state(now_ms=EPOCH_MS))
    restarted = SimulatedMt5(Engine(kept, on_change=again.save))
    assert restarted.initialize()
    restarted.control.advance_time(120)
    assert must(restarted.symbol_info_tick("GBPUSD.m")).bid == 1.25000
    again.close()


def test_stop_limit_orders_place_a_limit_when_the_stop_is_reached() -> None:
    sim = frozen_simulator()
    sim.control.hold_price("EURUSD.m", 1.08500)  # ask 1.08512
    order = {**PENDING, "symbol": "EURUSD.m", "type": mt5.ORDER_TYPE_BUY_STOP_LIMIT, "price": 1.08700,
             "stoplimit": 1.08650, "sl": 1.08500, "comment": "breakout-retest"}
    assert must(sim.order_send({**order, "stoplimit": 1.08750})).retcode == mt5.TRADE_RETCODE_INVALID_PRICE  # above stop
    assert must(sim.order_send({**order, "sl": 1.08660})).retcode == mt5.TRADE_RETCODE_INVALID_STOPS  # above the limit
    placed = must(sim.order_send(order))
    assert placed.retcode == mt5.TRADE_RETCODE_PLACED
    (waiting,) = must(sim.orders_get())
    assert (waiting.type, waiting.price_open, waiting.price_stoplimit) == (mt5.ORDER_TYPE_BUY_STOP_LIMIT, 1.08700,
                                                                           1.08650)
    sim.control.advance_time(1)
    sim.control.hold_price("EURUSD.m", 1.08690)  # ask 1.08702: the stop is reached, the ask is above the limit
    (converted,) = must(sim.orders_get())
    assert (converted.ticket, converted.type, converted.price_open) == (placed.order, mt5.ORDER_TYPE_BUY_LIMIT,
                                                                        1.08650)
    assert sim.positions_get() == ()
    sim.control.advance_time(1)
    sim.control.hold_price("EURUSD.m", 1.08630)  # ask 1.08642: the limit fills, at its price or better
    (position,) = must(sim.positions_get())
    assert (position.ticket, position.price_open, position.sl, position.comment) == (
        placed.order, 1.08642, 1.08500, "breakout-retest")


def test_a_symbol_without_stop_limit_orders_refuses_them() -> None:
    sim = frozen_simulator()
    assert sim.symbol_select("US30.m", True)
    assert not must(sim.symbol_info("US30.m")).order_mode & mt5.SYMBOL_ORDER_STOP_LIMIT
    assert must(sim.symbol_info("EURUSD.m")).order_mode & mt5.SYMBOL_ORDER_STOP_LIMIT
    bid = must(sim.symbol_info_tick("US30.m")).bid
    refused = must(sim.order_send({**PENDING, "symbol": "US30.m", "type": mt5.ORDER_TYPE_SELL_STOP_LIMIT,
                              "price": round(bid - 50, 1), "stoplimit": round(bid - 40, 1)}))
    assert refused.retcode == mt5.TRADE_RETCODE_INVALID_ORDER


def test_the_freeze_level_forbids_changing_what_sits_near_the_market() -> None:
    sim = frozen_simulator()  # XAUUSD.m: stops level 50 points, freeze level 20 points
    sim.control.hold_price("XAUUSD.m", 2650.00)
    opened = market(sim, "XAUUSD.m", mt5.ORDER_TYPE_BUY, 0.1)
    sltp = {"action": mt5.TRADE_ACTION_SLTP, "symbol": "XAUUSD.m", "position": opened.order}
    assert must(sim.order_send({**sltp, "sl": 2649.60})).retcode == mt5.TRADE_RETCODE_INVALID_STOPS  # inside the stops level
    assert must(sim.order_send({**sltp, "sl": 2649.50})).retcode == mt5.TRADE_RETCODE_DONE
    sim.control.hold_price("XAUUSD.m", 2649.68)  # 18 points above the stop: frozen
    assert must(sim.order_send({**sltp, "sl": 2649.00})).retcode == mt5.TRADE_RETCODE_FROZEN
    sim.control.hold_price("XAUUSD.m", 2650.30)
    assert must(sim.order_send({**sltp, "sl": 2649.70})).retcode == mt5.TRADE_RETCODE_DONE
    limit = must(sim.order_send({**PENDING, "symbol": "XAUUSD.m", "type": mt5.ORDER_TYPE_SELL_LIMIT, "price": 2651.00}))
    assert limit.retcode == mt5.TRADE_RETCODE_PLACED
    sim.control.hold_price("XAUUSD.m", 2650.85)  # the bid is 15 points below the limit
    remove = {"action": mt5.TRADE_ACTION_REMOVE, "order": limit.order}
    assert must(sim.order_send(remove)).retcode == mt5.TRADE_RETCODE_FROZEN
    assert must(sim.order_send({"action": mt5.TRADE_ACTION_MODIFY, "order": limit.order, "price": 2652.00}
                          )).retcode == mt5.TRADE_RETCODE_FROZEN
    sim.control.hold_price("XAUUSD.m", 2650.70)
    assert must(sim.order_send(remove)).retcode == mt5.TRADE_RETCODE_DONE


def test_day_orders_expire_at_the_end_of_the_trading_day_in_server_time() -> None:
    sim = frozen_simulator()  # 10:00 UTC, 12:00 on the server
    sim.control.hold_price("EURUSD.m", 1.08500)
    day = must(sim.order_send({**PENDING, "symbol": "EURUSD.m", "type": mt5.ORDER_TYPE_BUY_LIMIT, "price": 1.08000,
                          "type_time": mt5.ORDER_TIME_DAY}))
    assert day.retcode == mt5.TRADE_RETCODE_PLACED
    (order,) = must(sim.orders_get())
    end_of_day = (EPOCH_MS // 1000 + OFFSET_S) // 86_400 * 86_400 + 86_399
    assert order.time_expiration == end_of_day
    sim.control.advance_time(11 * 3600)  # 23:00 on the server
    assert len(must(sim.orders_get())) == 1
    sim.control.advance_time(3600)
    assert sim.orders_get() == ()
    assert must(sim.history_orders_get(ticket=day.order))[0].state == mt5.ORDER_STATE_EXPIRED


def _session(seed: int) -> list[object]:
    # Random trading on a wandering feed in short and long steps: stops, targets and pending
    # orders a few points from the market, so many are reached. Returns the books after each step.
    rng = random.Random(seed)
    sim = frozen_simulator(seed=seed)
    seen: list[object] = []
    for _ in range(120):
        symbol = rng.choice(["EURUSD.m", "USDJPY.m"])
        tick = must(sim.symbol_info_tick(symbol))
        point = must(sim.symbol_info(symbol)).point
        choice = rng.random()
        if choice < 0.3:
            buy = rng.random() < 0.5
            far = rng.randint(20, 60) * point
            market(sim, symbol, mt5.ORDER_TYPE_BUY if buy else mt5.ORDER_TYPE_SELL, 0.1,
                   sl=round(tick.bid - far if buy else tick.ask + far, 5),
                   tp=round(tick.bid + far if buy else tick.ask - far, 5))
        elif choice < 0.5:
            kind = rng.choice([mt5.ORDER_TYPE_BUY_LIMIT, mt5.ORDER_TYPE_SELL_LIMIT, mt5.ORDER_TYPE_BUY_STOP,
                               mt5.ORDER_TYPE_SELL_STOP])
            away = rng.randint(15, 50) * point * (1 if kind in (mt5.ORDER_TYPE_SELL_LIMIT, mt5.ORDER_TYPE_BUY_STOP)
                                                  else -1)
            base = tick.ask if kind in (mt5.ORDER_TYPE_BUY_LIMIT, mt5.ORDER_TYPE_BUY_STOP) else tick.bid
            sim.order_send({**PENDING, "symbol": symbol, "type": kind, "price": round(base + away, 5),
                            "type_time": mt5.ORDER_TIME_SPECIFIED,
                            "expiration": (EPOCH_MS // 1000 + OFFSET_S) + rng.randint(5, 400)})
        touched = None
        if rng.random() < 0.2 and (sim.positions_get() or sim.orders_get()):
            # The price put exactly on a stop, a target or an order's price: ties must go as the scan's.
            item: Any = rng.choice([*must(sim.positions_get()), *must(sim.orders_get())])
            level = rng.choice([item.sl, item.tp, item.price_open])
            spec = must(sim.symbol_info(item.symbol))
            if level:
                touched = str(item.symbol)
                sim.control.hold_price(touched, round(level - rng.choice([0, spec.spread]) * spec.point, spec.digits))
        sim.control.advance_time(rng.choice([0.001, 0.05, 0.3, 0.999, 1.0, 2.5, 4.2, 30.0]))
        seen.append((sim.account_info(), sim.positions_get(), sim.orders_get()))
        if touched:
            sim.control.release_price(touched)
    seen.append((sim.history_orders_total(0, 2**40), sim.history_deals_get(0, 2**40)))
    return seen


def test_short_stretches_checked_in_python_play_out_as_the_full_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    # Between calls the server replays the market; a stretch of a few moments is first checked
    # with Python floats, and scanned only when something is reached there.
    for seed in range(1, 9):
        quick = _session(seed)
        with monkeypatch.context() as patched:
            patched.setattr(triggers, "_few_moments", lambda start, end: None)  # always the full scan
            scanned = _session(seed)
        assert quick == scanned
        deals: Any = quick[-1]
        closed = [d for d in deals[1] if d.reason in (mt5.DEAL_REASON_SL, mt5.DEAL_REASON_TP)]
        assert closed, "the session must reach some stops"
