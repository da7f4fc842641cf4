"""The signal detail's execution: broker symbol, lots, SL/TP as sent, fill, slippage and the position."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest_asyncio
from pytestqt.qtbot import QtBot
from tnm_desktop.gui.pages.signal_detail import SignalDetail

from tests.agent.rig import TradeRig, make_rig
from tests.gui.conftest import MakeContext
from tests.must import must
from tests.pg import Db
from tests.waiting import eventually


@pytest_asyncio.fixture
async def rig(db: Db) -> AsyncIterator[TradeRig]:
    made = await make_rig(db)
    await made.start_thread()
    yield made
    await made.stop()
    await made.adapter.close()


async def test_the_detail_shows_what_was_sent_how_it_filled_and_the_position(
        qtbot: QtBot, ctx_for: MakeContext, rig: TradeRig) -> None:
    ask = must(rig.sim.symbol_info_tick("EURUSD.m")).ask
    alert = round(ask - 0.0004, 5)
    job_id, signal_id = rig.trade("buy", "EURUSD", sizing={"mode": "lots", "lots": 0.15}, sl={"pips": 20},
                                  tp={"pips": 40}, alert_price=alert)
    job = await rig.final(job_id)
    result = job["result"]
    ctx = await ctx_for(rig.user)
    detail = SignalDetail(ctx)
    qtbot.addWidget(detail)
    detail.show()
    detail.show_signal(signal_id)
    await eventually(lambda: "Position" in detail.execution_texts(), what="the execution box")
    shown = detail.execution_texts()
    fill = float(result["price"])
    slip = (fill - alert) / 0.0001
    assert shown["Broker symbol"] == "EURUSD.m"
    assert shown["Lots"] == "0.15 sent, 0.15 filled"
    sent_sl, sent_tp = float(result["sent_sl"]), float(result["sent_tp"])  # from the quote the order was sized on
    assert abs(sent_sl - (fill - 0.0020)) < 0.0002 and abs(sent_tp - (fill + 0.0040)) < 0.0002
    assert shown["Stop loss / take profit sent"] == f"{sent_sl:g} / {sent_tp:g}"
    assert shown["Fill"] == f"{fill:.5f}".rstrip("0")
    assert shown["Slippage"] == f"{abs(slip):.1f} pips {'worse' if slip > 0 else 'better'} (alert {alert:g})"
    assert re.fullmatch(rf"#{result['position']} — open 0\.15 lots, [+−]?[\d,]+\.\d\d USD", shown["Position"])

    rig.sim.order_send({"action": 1, "symbol": "EURUSD.m", "position": result["position"], "volume": 0.15,
                        "type": 1, "price": must(rig.sim.symbol_info_tick("EURUSD.m")).bid, "type_filling": 0})
    assert rig.thread is not None
    rig.thread.sync_now()  # the close reaches the history with the next sync
    for _ in range(30):  # the detail is reloaded when its signal changes; here the trader looks again
        detail.refresh()
        await asyncio.sleep(0.5)
        if "closed" in detail.execution_texts().get("Position", ""):
            break
    assert re.fullmatch(rf"#{result['position']} — closed .+, net [+−]?[\d,]+\.\d\d", detail.execution_texts()["Position"])
