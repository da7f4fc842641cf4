"""One alert, two broker accounts: two agents, two terminals, two jobs and two orders; a failure on
one account does not undo the other, and the signal log names each leg's outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from tnm_desktop.data.local.adapter import LocalAdapter
from tnm_desktop.domain import Session
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.api import SimulatedMt5

from tests.agent.rig import TradeRig, make_rig
from tests.must import must
from tests.pg import Db


@pytest_asyncio.fixture
async def rigs(db: Db) -> AsyncIterator[tuple[TradeRig, TradeRig]]:
    """The strategy's own account (``main``), and a second account of the same trader (``prop``)."""
    main = await make_rig(db)
    paired = db.create_agent(main.user)
    prop_broker = db.admin.execute(
        "insert into broker_connections (user_id, agent_id, name, symbol_suffix) values (%s, %s, 'Prop', '.m') "
        "returning id::text as id", (main.user.id, paired.id)).fetchone()
    assert prop_broker is not None
    db.admin.execute("insert into strategy_connections (strategy_id, broker_connection_id, user_id, volume_multiplier, "
                     "position) values (%s, %s, %s, 3, 2)", (main.strategy_id, prop_broker["id"], main.user.id))
    from tests.data.backends import local_backend

    adapter = await local_backend(db).make(f"session:{main.user.email}:prop")
    assert isinstance(adapter, LocalAdapter)
    adapter.act_as(Session(main.user.id, main.user.email, "local"))
    sim = SimulatedMt5()
    assert sim.initialize()
    prop = TradeRig(db, main.user, paired, adapter, sim, str(prop_broker["id"]), main.strategy_id)
    for rig in (main, prop):
        rig.sim.control.hold_price("EURUSD.m", 1.08500)
        await rig.start()
    yield main, prop
    for rig in (main, prop):
        await rig.stop()
        await rig.adapter.close()


async def test_one_alert_trades_on_both_accounts_each_with_its_volume(rigs: tuple[TradeRig, TradeRig]) -> None:
    main, prop = rigs
    signal_id, (first, second) = main.alert("6012,buy,EURUSD,vol_lots=0.1,sl=20")
    assert (await main.final(first))["status"] == "completed"
    assert (await prop.final(second))["status"] == "completed"
    assert [d.volume for d in main.opening_deals(first)] == [0.1]
    assert [d.volume for d in prop.opening_deals(second)] == [0.3]  # its multiplier is 3
    assert prop.opening_deals(first) == [] and main.opening_deals(second) == []  # each job on its own terminal
    signal = main.signal(signal_id)
    assert (signal["status"], signal["broker_order_id"]) == ("executed", str(main.opening_deals(first)[0].order))


async def test_a_failure_on_one_account_does_not_undo_the_other(rigs: tuple[TradeRig, TradeRig]) -> None:
    main, prop = rigs
    prop.sim.control.inject_fault("reject", retcode=mt5.TRADE_RETCODE_NO_MONEY, message="No money")
    signal_id, (first, second) = main.alert({"action": "sell", "symbol": "EURUSD", "lots": 0.2})
    done, failed = await main.final(first), await prop.final(second)
    assert (done["status"], failed["status"]) == ("completed", "failed")
    assert failed["error_message"] == "No money (retcode 10019)"
    (position,) = must(main.sim.positions_get())
    assert (position.type, position.volume) == (mt5.POSITION_TYPE_SELL, 0.2)  # still open: nothing was undone
    assert prop.sim.positions_get() == ()
    signal = main.signal(signal_id)
    assert signal["status"] == "failed"
    assert signal["error_message"] == "1 of 2 accounts failed — Sim: done; Prop: No money (retcode 10019)"
