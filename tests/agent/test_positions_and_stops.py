"""The agent keeps the positions snapshot current, closes and changes stops on request, and measures slippage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from tnm_desktop.terminal import mt5api as mt5

from tests.agent.rig import TradeRig, make_rig
from tests.must import must
from tests.pg import Db
from tests.waiting import eventually


@pytest_asyncio.fixture
async def rig(db: Db) -> AsyncIterator[TradeRig]:
    made = await make_rig(db)
    await made.start()
    yield made
    await made.stop()
    await made.adapter.close()


def positions(rig: TradeRig) -> list[dict[str, Any]]:
    snapshot = rig.snapshot()
    return list(snapshot["positions"]) if snapshot else []


async def opened(rig: TradeRig, action: str = "buy", symbol: str = "EURUSD", lots: float = 0.1) -> int:
    job_id, _ = rig.trade(action, symbol, sizing={"mode": "lots", "lots": lots})
    job = await rig.final(job_id)
    assert job["status"] == "completed", job["error_message"]
    return int(job["result"]["position"])


async def test_the_first_sync_writes_a_snapshot_with_the_pending_orders(rig: TradeRig) -> None:
    await eventually(lambda: rig.snapshot() is not None, what="the first snapshot")
    first = rig.snapshot()
    assert first is not None and first["positions"] == [] and float(first["balance"]) == must(rig.sim.account_info()).balance
    tick = must(rig.sim.symbol_info_tick("XAUUSD.m"))
    placed = rig.sim.order_send({"action": mt5.TRADE_ACTION_PENDING, "symbol": "XAUUSD.m", "volume": 0.02,
                                 "type": mt5.ORDER_TYPE_SELL_STOP, "price": round(tick.bid - 15, 2), "magic": 3,
                                 "type_time": mt5.ORDER_TIME_GTC, "type_filling": mt5.ORDER_FILLING_RETURN})
    assert placed is not None and placed.retcode == mt5.TRADE_RETCODE_PLACED
    assert rig.agent is not None
    rig.agent.sync_now()
    await eventually(lambda: bool((rig.snapshot() or {}).get("orders")), what="the pending order in the snapshot")
    (order,) = (rig.snapshot() or {})["orders"]
    assert (order["ticket"], order["symbol"], order["order_type"], order["volume"]) == (
        placed.order, "XAUUSD.m", "sell_stop", 0.02)


async def test_a_trade_is_followed_by_a_snapshot_naming_its_job_signal_and_strategy(rig: TradeRig) -> None:
    ask = must(rig.sim.symbol_info_tick("EURUSD.m")).ask
    job_id, signal_id = rig.trade("buy", alert_price=round(ask - 0.0003, 5))
    job = await rig.final(job_id)
    result = job["result"]
    await eventually(lambda: len(positions(rig)) == 1, what="the position in the snapshot")
    (position,) = positions(rig)
    assert position["ticket"] == result["position"] and position["volume"] == 0.1
    assert (position["job_id"], position["signal_id"], position["strategy_id"]) == (job_id, signal_id,
                                                                                  rig.strategy_id)
    # The fill against the alert's price, in pips: a buy filled higher than the alert is worse (positive).
    assert (result["broker_symbol"], result["sent_volume"], result["pip"]) == ("EURUSD.m", 0.1, 0.0001)
    assert result["slippage_pips"] == pytest.approx((result["price"] - result["alert_price"]) / 0.0001, abs=0.01)
    assert result["slippage_pips"] > 0
    bid = must(rig.sim.symbol_info_tick("EURUSD.m")).bid
    sold = await rig.final(rig.trade("sell", alert_price=round(bid - 0.0002, 5))[0])
    assert sold["result"]["slippage_pips"] == pytest.approx(
        (sold["result"]["alert_price"] - sold["result"]["price"]) / 0.0001, abs=0.01)
    assert sold["result"]["slippage_pips"] < 0  # a sell filled higher than the alert: better


async def test_close_a_part_then_the_rest_by_ticket(rig: TradeRig) -> None:
    ticket = await opened(rig, lots=0.1)
    login = must(rig.sim.account_info()).login
    part = await rig.final(rig.enqueue("close_position", {"ticket": ticket, "volume": 0.04, "login": login}))
    assert part["status"] == "completed", part["error_message"]
    assert must(rig.sim.positions_get(ticket=ticket))[0].volume == pytest.approx(0.06)
    await eventually(lambda: [p["volume"] for p in positions(rig)] == [0.06], what="the snapshot after the part")
    rest = await rig.final(rig.enqueue("close_position", {"ticket": ticket, "login": login}))
    assert rest["status"] == "completed" and rest["result"]["volume"] == pytest.approx(0.06)
    assert must(rig.sim.positions_get(ticket=ticket)) == ()
    await eventually(lambda: positions(rig) == [], what="an empty snapshot")
    gone = await rig.final(rig.enqueue("close_position", {"ticket": ticket, "login": login}))
    assert gone["status"] == "completed" and "Nothing to close" in gone["result"]["note"]


async def test_close_every_position_of_a_symbol_whoever_opened_it(rig: TradeRig) -> None:
    await opened(rig, "buy")
    await opened(rig, "sell")
    await opened(rig, "buy", "GBPUSD")
    tick = must(rig.sim.symbol_info_tick("EURUSD.m"))
    by_hand = rig.sim.order_send({"action": mt5.TRADE_ACTION_DEAL, "symbol": "EURUSD.m", "volume": 0.05,
                                  "type": mt5.ORDER_TYPE_BUY, "price": tick.ask, "magic": 0,
                                  "type_filling": mt5.ORDER_FILLING_FOK})
    assert by_hand is not None and by_hand.retcode == mt5.TRADE_RETCODE_DONE
    job = await rig.final(rig.enqueue("close_position", {"symbol": "EURUSD.m", "side": "all"}))
    assert job["status"] == "completed" and len(job["result"]["closed"]) == 3
    assert must(rig.sim.positions_get(symbol="EURUSD.m")) == ()
    assert len(must(rig.sim.positions_get(symbol="GBPUSD.m"))) == 1
    await eventually(lambda: [p["symbol"] for p in positions(rig)] == ["GBPUSD.m"], what="only GBPUSD left")


async def test_change_and_remove_stops(rig: TradeRig) -> None:
    ticket = await opened(rig, "buy")
    position = must(rig.sim.positions_get(ticket=ticket))[0]
    sl, tp = round(position.price_open - 0.0030, 5), round(position.price_open + 0.0045, 5)
    # As the Positions page writes a change: plain prices, and the account it was asked for.
    login = must(rig.sim.account_info()).login
    job = await rig.final(rig.enqueue("modify_position", {"ticket": ticket, "sl": sl, "tp": tp, "login": login}))
    assert job["status"] == "completed", job["error_message"]
    position = must(rig.sim.positions_get(ticket=ticket))[0]
    assert (position.sl, position.tp) == (sl, tp)
    assert job["intent"]["modify"] == [{"ticket": ticket, "sl": sl, "tp": tp}]
    await eventually(lambda: [(p["sl"], p["tp"]) for p in positions(rig)] == [(sl, tp)], what="new stops")
    removed = await rig.final(rig.enqueue("modify_position", {"ticket": ticket, "tp": 0, "login": login}))
    assert removed["status"] == "completed", removed["error_message"]
    position = must(rig.sim.positions_get(ticket=ticket))[0]
    assert (position.sl, position.tp) == (sl, 0.0)  # the take profit is gone, the stop loss left as it was
    await eventually(lambda: [(p["sl"], p["tp"]) for p in positions(rig)] == [(sl, None)], what="the removal")


async def test_refusals_change_nothing_and_say_why(rig: TradeRig) -> None:
    ticket = await opened(rig, "buy")
    before = must(rig.sim.positions_get(ticket=ticket))[0]
    wrong_account = await rig.final(rig.enqueue("modify_position", {"ticket": ticket, "login": 1, "sl": 1.0}))
    assert wrong_account["status"] == "failed"
    assert wrong_account["error_message"].startswith("This was asked for account 1, but MetaTrader 5 is logged in")
    above = round(before.price_open + 0.0100, 5)
    invalid = await rig.final(rig.enqueue("modify_position", {"ticket": ticket, "sl": above}))
    assert invalid["status"] == "failed" and "retcode 10016" in invalid["error_message"]
    close_wrong = await rig.final(rig.enqueue("close_position", {"ticket": ticket, "login": 1}))
    assert close_wrong["status"] == "failed"
    after = must(rig.sim.positions_get(ticket=ticket))[0]
    assert (after.sl, after.tp, after.volume) == (before.sl, before.tp, before.volume)
