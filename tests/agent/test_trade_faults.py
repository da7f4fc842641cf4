"""What the broker and the terminal can do wrong, and the job and signal state each ends in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from tnm_desktop.domain import AgentState

from tests.agent.rig import TradeRig, make_rig
from tests.pg import Db
from tests.waiting import eventually


@pytest_asyncio.fixture
async def rig(db: Db) -> AsyncIterator[TradeRig]:
    made = await make_rig(db)
    await made.start()
    yield made
    await made.stop()
    await made.adapter.close()


async def test_requote_is_retried_with_a_fresh_price_then_filled(rig: TradeRig) -> None:
    rig.sim.control.inject_fault("requote", symbol="EURUSD.m", count=2)
    job_id, signal_id = rig.trade("buy")
    job = await rig.final(job_id)
    assert job["status"] == "completed" and job["result"]["attempts"] == 3
    assert rig.signal(signal_id)["status"] == "executed"
    assert len(rig.opening_deals(job_id)) == 1


async def test_partial_fill_executes_with_a_note(rig: TradeRig) -> None:
    rig.sim.control.inject_fault("partial", symbol="GBPUSD.m", volume=0.3)
    job_id, signal_id = rig.trade("buy", "GBPUSD", sizing={"mode": "lots", "lots": 0.5})
    job = await rig.final(job_id)
    assert job["status"] == "completed"
    assert job["result"]["volume"] == pytest.approx(0.3)
    signal = rig.signal(signal_id)
    assert signal["status"] == "executed"
    assert signal["error_message"] == "Partially filled: 0.3 of 0.5 lots."


@pytest.mark.parametrize(("retcode", "words"), [(10019, "money"), (10018, "closed"), (10017, "disabled")])
async def test_reject_fails_with_the_brokers_message(rig: TradeRig, retcode: int, words: str) -> None:
    rig.sim.control.inject_fault("reject", symbol="EURUSD.m", retcode=retcode)
    job_id, signal_id = rig.trade("buy")
    job = await rig.final(job_id)
    assert job["status"] == "failed" and job["attempts"] == 1
    signal = rig.signal(signal_id)
    assert signal["status"] == "failed"
    assert f"retcode {retcode}" in signal["error_message"] and words in signal["error_message"].lower()
    assert rig.opening_deals(job_id) == []


async def test_timeout_after_the_fill_is_reconciled_not_resent(rig: TradeRig) -> None:
    rig.sim.control.inject_fault("timeout", symbol="EURUSD.m", filled=True)
    job_id, signal_id = rig.trade("buy")
    job = await rig.final(job_id)
    assert job["status"] == "completed" and job["result"]["reconciled"] is True
    assert "not sent again" in rig.signal(signal_id)["error_message"]
    assert rig.signal(signal_id)["status"] == "executed"
    assert len(rig.opening_deals(job_id)) == 1


async def test_timeout_without_a_fill_is_looked_up_then_sent_once_more(rig: TradeRig) -> None:
    rig.sim.control.inject_fault("timeout", symbol="EURUSD.m", filled=False)
    job_id, signal_id = rig.trade("buy")
    job = await rig.final(job_id)
    assert job["status"] == "completed" and job["attempts"] == 2
    assert rig.signal(signal_id)["status"] == "executed"
    assert len(rig.opening_deals(job_id)) == 1


async def test_lost_reply_after_the_fill_is_found_by_its_token(rig: TradeRig) -> None:
    rig.sim.control.inject_fault("lose_reply", symbol="EURUSD.m")
    job_id, signal_id = rig.trade("sell")
    job = await rig.final(job_id)
    assert job["status"] == "completed" and job["result"]["reconciled"] is True
    assert rig.signal(signal_id)["status"] == "executed"
    (deal,) = rig.opening_deals(job_id)
    assert float(rig.signal(signal_id)["fill_price"]) == pytest.approx(deal.price)


async def test_disconnect_degrades_then_trades_once_the_terminal_is_back(rig: TradeRig) -> None:
    rig.sim.control.disconnect()
    job_id, signal_id = rig.trade("buy")
    await eventually(lambda: any(s.state is AgentState.DEGRADED for s in rig.states()), within=10)
    degraded = next(s for s in rig.states() if s.state is AgentState.DEGRADED)
    assert "Trying again" in degraded.detail
    assert rig.signal(signal_id)["status"] == "pending"
    rig.sim.control.reconnect()
    job = await rig.final(job_id, within=20)
    assert job["status"] == "completed"
    assert rig.signal(signal_id)["status"] == "executed"
    assert len(rig.opening_deals(job_id)) == 1
    assert rig.agent is not None and rig.agent.state is AgentState.RUNNING


async def test_auto_trading_disabled_fails_the_trade_and_stops_the_agent(rig: TradeRig) -> None:
    rig.sim.control.set_trade_allowed(False)
    job_id, signal_id = rig.trade("buy")
    job = await rig.final(job_id)
    assert job["status"] == "failed"
    signal = rig.signal(signal_id)
    assert signal["status"] == "failed" and "Algo Trading" in signal["error_message"]
    await eventually(lambda: rig.agent is not None and rig.agent.state is AgentState.STOPPED)
    assert "Algo Trading" in rig.states()[-1].detail
    assert rig.opening_deals(job_id) == []


async def test_an_agent_does_not_start_while_auto_trading_is_off(db: Db) -> None:
    rig = await make_rig(db)
    rig.sim.control.set_trade_allowed(False)
    agent = await rig.start()
    try:
        assert agent.state is AgentState.STOPPED
        assert "Algo Trading" in rig.states()[-1].detail
    finally:
        await rig.stop()
        await rig.adapter.close()
