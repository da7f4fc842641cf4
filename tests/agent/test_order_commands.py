"""Order-management alerts through ingestion, the agent and the MT5 simulator: what the terminal
holds afterwards, and what the signal log says."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from tnm_desktop.terminal import mt5api as mt5

from tests.agent.rig import TradeRig, make_rig
from tests.must import must
from tests.pg import Db


@pytest_asyncio.fixture
async def rig(db: Db) -> AsyncIterator[TradeRig]:
    made = await make_rig(db)
    made.sim.control.hold_price("EURUSD.m", 1.08500)  # ask 1.08512
    made.sim.control.hold_price("GBPUSD.m", 1.27000)  # ask 1.27018
    await made.start()
    yield made
    await made.stop()
    await made.adapter.close()


async def _executed(rig: TradeRig, body: str | dict[str, object]) -> tuple[str, dict[str, Any]]:
    signal_id, (job_id,) = rig.alert(body)
    job = await rig.final(job_id)
    assert job["status"] == "completed", job["error_message"]
    signal = rig.signal(signal_id)
    assert signal["status"] == "executed", signal["error_message"]
    return signal_id, job


async def test_pending_orders_are_placed_where_the_alert_says_and_cancelled_by_side(rig: TradeRig) -> None:
    signal_id, _job = await _executed(rig, "6012,buylimit,EURUSD,vol_lots=0.1,price=15,sl=20,tp=40")
    (order,) = must(rig.sim.orders_get(symbol="EURUSD.m"))
    # 15 pips below the ask; the stops measured from where the order opens.
    assert (order.type, order.price_open, order.sl, order.tp, order.volume_initial, order.magic) == (
        mt5.ORDER_TYPE_BUY_LIMIT, 1.08362, 1.08162, 1.08762, 0.1, rig.magic)
    signal = rig.signal(signal_id)
    assert signal["broker_order_id"] == str(order.ticket) and signal["fill_price"] is None
    assert signal["error_message"] == "Buy limit placed at 1.08362."
    await _executed(rig, {"action": "sellstop", "symbol": "EURUSD", "lots": 0.2, "entry_pips": 10, "expiry": 60})
    sell_stop = next(o for o in must(rig.sim.orders_get()) if o.type == mt5.ORDER_TYPE_SELL_STOP)
    assert sell_stop.price_open == 1.08400
    server_now = rig.sim.control.now_ms() // 1000 + rig.sim.control.server_offset()
    assert sell_stop.time_expiration == pytest.approx(server_now + 3600, abs=30)
    _, cancel = await _executed(rig, "6012,cancellong,EURUSD")
    assert cancel["result"]["cancelled"] == [order.ticket]
    assert [o.ticket for o in must(rig.sim.orders_get())] == [sell_stop.ticket]  # the sell stop stays
    assert must(rig.sim.history_orders_get(ticket=order.ticket))[0].state == mt5.ORDER_STATE_CANCELED
    _, nothing = await _executed(rig, {"action": "cancel", "symbol": "EURUSD", "side": "long"})
    assert nothing["result"]["note"] == "Nothing to cancel: no pending buy order on EURUSD.m."


async def test_a_stop_limit_order_and_a_cancel_by_the_alert_that_placed_it(rig: TradeRig) -> None:
    await _executed(rig, {"id": "breakout-7", "action": "buystoplimit", "symbol": "GBPUSD", "lots": 0.1,
                          "entry_pips": 20, "stoplimit_pips": 15})
    await _executed(rig, {"id": "other", "action": "buystop", "symbol": "GBPUSD", "lots": 0.1, "entry_pips": 30})
    placed = {o.type: o for o in must(rig.sim.orders_get(symbol="GBPUSD.m"))}
    stop_limit = placed[mt5.ORDER_TYPE_BUY_STOP_LIMIT]
    assert (stop_limit.price_open, stop_limit.price_stoplimit) == (1.27218, 1.27168)
    await _executed(rig, {"action": "cancel", "symbol": "GBPUSD", "cancel_id": "breakout-7"})
    assert [o.type for o in must(rig.sim.orders_get())] == [mt5.ORDER_TYPE_BUY_STOP]


async def test_a_pending_order_that_triggers_becomes_a_position_with_its_stops(rig: TradeRig) -> None:
    await _executed(rig, "6012,sellstop,EURUSD,vol_lots=0.3,price=5,sl=10")
    rig.sim.control.hold_price("EURUSD.m", 1.08440)
    (position,) = must(rig.sim.positions_get(symbol="EURUSD.m"))
    assert (position.type, position.volume, position.price_open, position.sl) == (
        mt5.POSITION_TYPE_SELL, 0.3, 1.0844, 1.08550)


async def test_newsltp_sets_new_stops_from_the_market_price(rig: TradeRig) -> None:
    # A long and a short side by side: the strategy hedges (by default a sell closes its long).
    rig.db.admin.execute("update tv_strategies set opposite_signal = 'hedge' where id = %s", (rig.strategy_id,))
    await _executed(rig, "6012,buy,EURUSD,vol_lots=0.1,sl=30")
    await _executed(rig, "6012,sell,EURUSD,vol_lots=0.1,sl=30")
    rig.sim.control.hold_price("EURUSD.m", 1.08600)
    _, job = await _executed(rig, "6012,newsltplong,EURUSD,sl=15,tp=25")
    assert job["job_type"] == "modify_position"
    by_type = {p.type: p for p in must(rig.sim.positions_get(symbol="EURUSD.m"))}
    assert (by_type[mt5.POSITION_TYPE_BUY].sl, by_type[mt5.POSITION_TYPE_BUY].tp) == (1.08450, 1.08850)
    assert by_type[mt5.POSITION_TYPE_SELL].sl == 1.08800  # the short is untouched (sold at the bid)
    await _executed(rig, {"action": "newsltp", "side": "short", "symbol": "EURUSD", "sl": 1.0890})
    short = next(p for p in must(rig.sim.positions_get()) if p.type == mt5.POSITION_TYPE_SELL)
    assert (short.sl, short.tp) == (1.0890, 0.0)
    refused_signal, (refused,) = rig.alert({"action": "newsltplong", "symbol": "EURUSD", "sl": 1.0870})
    failed = await rig.final(refused)
    assert failed["status"] == "failed" and "Invalid stops" in failed["error_message"]
    assert rig.signal(refused_signal)["status"] == "failed"


async def test_closelongsell_closes_the_longs_then_sells(rig: TradeRig) -> None:
    await _executed(rig, "6012,buy,EURUSD,vol_lots=0.2")
    (long,) = must(rig.sim.positions_get())
    _, job = await _executed(rig, "6012,closelongsell,EURUSD,vol_lots=0.1,sl=20")
    (short,) = must(rig.sim.positions_get())
    assert (short.type, short.volume) == (mt5.POSITION_TYPE_SELL, 0.1)
    assert [c["position"] for c in job["result"]["closed"]] == [long.ticket]
    assert job["result"]["position"] == short.ticket
    _, _again = await _executed(rig, {"action": "closeshortbuy", "symbol": "EURUSD", "lots": 0.3})
    (buy,) = must(rig.sim.positions_get())
    assert (buy.type, buy.volume) == (mt5.POSITION_TYPE_BUY, 0.3)
    _, same_side = await _executed(rig, "6012,closelongbuy,EURUSD,vol_lots=0.1")  # close the long, buy afresh
    (fresh,) = must(rig.sim.positions_get())
    assert (fresh.type, fresh.volume) == (mt5.POSITION_TYPE_BUY, 0.1) and fresh.ticket != buy.ticket
    assert [c["position"] for c in same_side["result"]["closed"]] == [buy.ticket]


async def test_filters_refuse_with_what_they_saw(rig: TradeRig) -> None:
    signal_id, (job_id,) = rig.alert("6012,buy,EURUSD,vol_lots=0.1,spread=10")
    assert (await rig.final(job_id))["error_message"] == "The spread is 12 points; this alert allows at most 10. " \
                                                         "Nothing was opened."
    assert rig.signal(signal_id)["status"] == "failed"
    _, (job_id,) = rig.alert("6012,buy,EURUSD,vol_lots=0.1,accfilter=50000")
    assert (await rig.final(job_id))["error_message"] == "The balance is 10,000.00 USD; this alert needs more than " \
                                                         "50,000.00 USD. Nothing was opened."
    await _executed(rig, "6012,buy,EURUSD,vol_lots=0.1,spread=12,accfilter=5000")


async def test_the_agent_refuses_an_entry_that_reaches_it_outside_the_window(rig: TradeRig) -> None:
    later = (datetime.now(UTC).isoweekday() + 1) % 7 + 1  # the day after tomorrow: closed all today
    closed = {"days": [later], "start": "00:00", "end": "23:59", "time_zone": "UTC"}
    job_id, _signal_id = rig.trade("buy", sizing={"mode": "lots", "lots": 0.1}, extra={"window": closed})
    job = await rig.final(job_id)
    assert job["status"] == "failed"
    assert job["error_message"].startswith("Outside the strategy's trading window (")
    assert rig.opening_deals(job_id) == []
    # A reversal outside the window still closes; only its entry waits for the window.
    opened, _ = rig.trade("buy", sizing={"mode": "lots", "lots": 0.1})
    assert (await rig.final(opened))["status"] == "completed"
    reverse, _ = rig.trade("sell", sizing={"mode": "lots", "lots": 0.1},
                           extra={"window": closed, "close_first": "long", "command": "closelongsell"})
    done = await rig.final(reverse)
    assert done["status"] == "completed" and "nothing was opened" in done["result"]["note"]
    assert rig.sim.positions_get() == ()


async def test_a_position_change_from_the_app_names_the_ticket_and_prices(rig: TradeRig) -> None:
    await _executed(rig, "6012,buy,EURUSD,vol_lots=0.1")
    (position,) = must(rig.sim.positions_get())
    job = rig.db.admin.execute(
        "insert into jobs (user_id, job_type, payload) values (%s, 'modify_position', %s) returning id::text",
        (rig.user.id, json.dumps({"ticket": position.ticket, "sl": 1.0831, "tp": 1.0899}))).fetchone()
    assert job is not None
    done = await rig.final(job["id"])
    assert done["status"] == "completed", done["error_message"]
    (changed,) = must(rig.sim.positions_get())
    assert (changed.sl, changed.tp) == (1.0831, 1.0899)
    assert done["result"]["note"] == "New stops on 1 position(s)."
