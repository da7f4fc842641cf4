"""The risk limits, Stop trading and the opposite-signal setting end to end: the real database, the
agent, the MT5 simulator."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from tnm_desktop.agent.events import LogLine
from tnm_desktop.agent.runner import TerminalRunner
from tnm_desktop.agent.worker import Agent
from tnm_desktop.domain import AgentState
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.mt5_adapter import Mt5Terminal
from tnm_desktop.terminal.simulator.api import SimulatedMt5

from tests.agent.fakes import CountingPort
from tests.agent.rig import FAST, TradeRig, make_rig
from tests.must import must
from tests.pg import Db
from tests.waiting import eventually


@pytest_asyncio.fixture
async def rig(db: Db) -> AsyncIterator[TradeRig]:
    made = await make_rig(db)
    await made.start(made.runner(risk_every=0.2))
    yield made
    await made.stop()
    await made.adapter.close()


def settings(rig: TradeRig, **values: Any) -> None:
    assignments = ", ".join(f"{k} = %s" for k in values)
    rig.db.admin.execute(f"update user_settings set {assignments} where user_id = %s", (*values.values(), rig.user.id))


async def opened(rig: TradeRig, *args: Any, **kwargs: Any) -> int:
    job_id, _ = rig.trade(*args, **kwargs)
    job = await rig.final(job_id)
    assert job["status"] == "completed", job["error_message"]
    return int(job["result"]["position"])


async def refused(rig: TradeRig, *args: Any, **kwargs: Any) -> tuple[str, str]:
    """Run an entry that must be refused; return (error code, the signal's reason)."""
    job_id, signal_id = rig.trade(*args, **kwargs)
    job = await rig.final(job_id)
    assert job["status"] == "failed"
    assert rig.opening_deals(job_id) == []
    signal = rig.signal(signal_id)
    assert signal["status"] == "failed"
    return str(job["error_code"]), str(signal["error_message"])


async def test_a_daily_loss_beyond_the_limit_refuses_entries_once_told_and_closes_still_run(rig: TradeRig) -> None:
    ticket = await opened(rig, "buy", "EURUSD", sizing={"mode": "lots", "lots": 1.0})
    rig.sim.control.step_price("EURUSD.m", -100)  # 10 pips against a lot: about 1 % of 10,000
    settings(rig, max_daily_loss_pct=0.5)
    code, reason = await refused(rig, "buy", "GBPUSD")
    assert code == "daily_loss"
    assert reason.startswith("Maximum daily loss: daily loss 1.")
    assert "reached the 0.5 % limit (balance at the start of the trading day 10,000.00 USD; realised +0.00, " \
           "floating -1" in reason
    assert reason.endswith("New entries are refused until the broker's next trading day; closes still run.")
    # Once recorded (the trader is told once), it stays refused even if the loss recovers.
    lock = rig.db.admin.execute("select * from daily_loss_locks where agent_id = %s", (rig.paired.id,)).fetchall()
    assert len(lock) == 1 and float(lock[0]["limit_pct"]) == 0.5
    rig.sim.control.step_price("EURUSD.m", 100)
    assert (await refused(rig, "sell", "USDJPY"))[0] == "daily_loss"
    # The trader is told once (the outbox: tray, Telegram, e-mail), in the words of the agent's log.
    told = rig.db.admin.execute("select title, body from notifications where user_id = %s and kind = 'limit_reached'",
                                (rig.user.id,)).fetchall()
    logged = [e.text for e in rig.events if isinstance(e, LogLine) and e.text.startswith("Maximum daily loss: ")]
    assert len(told) == 1 and told[0]["title"] == "Maximum daily loss reached" and len(logged) == 1
    assert logged[0].startswith("Maximum daily loss: " + told[0]["body"].split(". New entries")[0])
    # Closes are never refused.
    closing, signal = rig.trade("close", "EURUSD")
    assert (await rig.final(closing))["status"] == "completed"
    assert rig.sim.positions_get(ticket=ticket) == () and rig.signal(signal)["status"] == "executed"
    # Raising the limit lifts it.
    settings(rig, max_daily_loss_pct=5)
    await opened(rig, "buy", "GBPUSD")


async def test_the_daily_loss_can_turn_trading_off_and_close_everything_by_itself(rig: TradeRig) -> None:
    await opened(rig, "buy", "EURUSD", sizing={"mode": "lots", "lots": 1.0})
    await opened(rig, "sell", "XAUUSD", sizing={"mode": "lots", "lots": 0.05})
    settings(rig, close_all_on_daily_loss=True)
    rig.sim.control.step_price("EURUSD.m", -100)
    settings(rig, max_daily_loss_pct=0.5)  # no entry comes: the agent's watch sees it
    await eventually(lambda: rig.sim.positions_get() == (), within=20, what="every position closed")
    row = rig.db.admin.execute("select trading_enabled, trading_off_by, trading_off_reason from user_settings "
                               "where user_id = %s", (rig.user.id,)).fetchone()
    assert row == {"trading_enabled": False, "trading_off_by": "daily_loss",
                   "trading_off_reason": "trading was turned off when the daily loss reached the 0.5 % limit"}
    job = rig.db.admin.execute("select id::text as id from jobs where job_type = 'close_position' and user_id = %s",
                               (rig.user.id,)).fetchone()
    assert job is not None
    done = await rig.final(job["id"])  # the positions are gone a moment before the job reports it
    assert done["status"] == "completed" and done["result"]["note"] == "Closed 2 positions."


@pytest.mark.parametrize(("limits", "positions", "code", "reason"), [
    ({"max_open_positions": 2}, ["EURUSD", "GBPUSD"], "max_positions",
     "Maximum open positions: 2 positions are open; the limit is 2."),
    ({"max_positions_per_symbol": 1}, ["USDJPY"], "max_positions_symbol",
     "Maximum positions per symbol: 1 USDJPY.m positions are open; the limit is 1 per symbol."),
    ({"equity_floor": 20_000}, [], "equity_floor",
     "Equity floor: equity 10,000.00 is below the floor of 20,000.00."),
])
async def test_each_limit_refuses_with_its_name(rig: TradeRig, limits: dict[str, Any], positions: list[str],
                                               code: str, reason: str) -> None:
    for symbol in positions:
        await opened(rig, "buy", symbol)
    settings(rig, **limits)
    assert await refused(rig, "buy", "USDJPY") == (code, reason)


async def test_stop_trading_cancels_the_queue_and_closes_every_position_and_order(rig: TradeRig) -> None:
    await opened(rig, "buy", "EURUSD")
    await opened(rig, "sell", "GBPUSD")
    tick = must(rig.sim.symbol_info_tick("EURUSD.m"))
    placed = rig.sim.order_send({"action": mt5.TRADE_ACTION_PENDING, "symbol": "EURUSD.m", "volume": 0.1,
                                 "type": mt5.ORDER_TYPE_BUY_LIMIT, "price": round(tick.bid - 0.005, 5),
                                 "type_time": mt5.ORDER_TIME_GTC, "type_filling": mt5.ORDER_FILLING_RETURN})
    assert placed is not None and placed.retcode == mt5.TRADE_RETCODE_PLACED
    assert rig.agent is not None
    rig.agent.pause()
    queued = [rig.trade("buy", "USDJPY"), rig.trade("sell", "EURUSD")]
    close_queued, close_signal = rig.trade("close", "GBPUSD")
    result = await rig.adapter.stop_trading(close_all=True)
    assert result.cancelled == 2 and len(result.close_jobs) == 1
    for job_id, signal_id in queued:
        assert rig.job(job_id)["status"] == "cancelled"
        signal = rig.signal(signal_id)
        assert (signal["status"], signal["error_message"]) == (
            "discarded", "Not executed: trading was stopped, and everything closed, with Stop trading in the app.")
    rig.agent.resume()
    assert (await rig.final(result.close_jobs[0]))["status"] == "completed"
    assert (await rig.final(close_queued))["status"] == "completed"  # a close queued before still ran
    assert rig.sim.positions_get() == () and rig.sim.orders_get() == ()
    note = rig.job(result.close_jobs[0])["result"]["note"]
    assert note in ("Closed 2 positions and deleted 1 pending order.", "Closed 1 position and deleted 1 pending order.")
    assert rig.signal(close_signal)["status"] == "executed"
    # An entry now is refused by the agent with the switch's reason; Start trading lets it through.
    code, reason = await refused(rig, "buy", "EURUSD")
    assert (code, reason) == ("trading_disabled", "Trading switch: trading was stopped, and everything closed, with "
                                                  "Stop trading in the app. New entries are refused until trading is "
                                                  "turned on again; closes still run.")
    settings_now = await rig.adapter.start_trading()
    assert settings_now.trading_enabled and settings_now.trading_off_by is None
    await opened(rig, "buy", "EURUSD")


@pytest.mark.parametrize(("opposite", "longs", "shorts"), [("close", 0, 0), ("reverse", 0, 1), ("hedge", 1, 1)])
async def test_what_an_opposite_signal_does(rig: TradeRig, opposite: str, longs: int, shorts: int) -> None:
    await opened(rig, "buy", "EURUSD", opposite=opposite)
    job_id, signal_id = rig.trade("sell", "EURUSD", opposite=opposite)
    job = await rig.final(job_id)
    assert job["status"] == "completed", job["error_message"]
    positions = must(rig.sim.positions_get(symbol="EURUSD.m"))
    assert (sum(p.type == mt5.POSITION_TYPE_BUY for p in positions),
            sum(p.type == mt5.POSITION_TYPE_SELL for p in positions)) == (longs, shorts)
    note = rig.signal(signal_id)["error_message"]
    if opposite == "close":
        assert note == ("Closed the strategy's long EURUSD.m position instead of opening a sell: this strategy's "
                        "opposite signals close only (Strategies page).")
    elif opposite == "reverse":
        assert note.startswith("Closed the long position first.") and len(job["result"]["closed"]) == 1


async def test_an_opposite_signal_touches_only_its_own_strategys_positions(rig: TradeRig) -> None:
    other = rig.db.admin.execute(
        "insert into tv_strategies (user_id, broker_connection_id, name) values (%s, %s, 'Other') "
        "returning id::text as id", (rig.user.id, rig.broker_id)).fetchone()
    assert other is not None
    theirs = await opened(rig, "buy", "EURUSD")
    rig.strategy_id, mine = other["id"], rig.strategy_id
    try:
        job_id, _ = rig.trade("sell", "EURUSD", opposite="close")  # nothing of "Other" to close: a sell opens
        assert (await rig.final(job_id))["status"] == "completed"
    finally:
        rig.strategy_id = mine
    assert rig.sim.positions_get(ticket=theirs) != ()
    assert len(must(rig.sim.positions_get(symbol="EURUSD.m"))) == 2


async def test_gold_with_a_stop_too_close_is_widened_and_fills(rig: TradeRig) -> None:
    job_id, signal_id = rig.trade("buy", "XAUUSD", sizing={"mode": "lots", "lots": 0.1}, sl={"pips": 2})
    job = await rig.final(job_id)
    assert job["status"] == "completed", job["error_message"]
    position = must(rig.sim.positions_get(ticket=job["result"]["position"]))[0]
    tick = must(rig.sim.symbol_info_tick("XAUUSD.m"))
    assert position.sl < tick.bid - 0.50 + 0.1  # beyond the 50-point stops level when sent
    assert rig.signal(signal_id)["error_message"].startswith("The stop loss was widened from 2 pips (0.20) to ")


async def test_the_connections_pip_size_is_used(rig: TradeRig) -> None:
    job_id, _ = rig.trade("buy", "XAUUSD", sizing={"mode": "lots", "lots": 0.1}, sl={"pips": 100}, pip_size=0.01)
    job = await rig.final(job_id)
    assert job["status"] == "completed", job["error_message"]
    position = must(rig.sim.positions_get(ticket=job["result"]["position"]))[0]
    assert position.price_open - position.sl == pytest.approx(1.00, abs=0.011)  # 100 pips of 0.01, not of 0.10


async def test_a_close_all_trade_job_closes_every_symbol(rig: TradeRig) -> None:
    await opened(rig, "buy", "EURUSD")
    await opened(rig, "sell", "US30", sizing={"mode": "lots", "lots": 0.5})
    job = rig.db.admin.execute(
        "insert into jobs (user_id, job_type, payload, target_agent_id) values (%s, 'trade', %s, %s) "
        "returning id::text as id",
        (rig.user.id, json.dumps({"action": "close", "symbol": None, "broker_symbol": None,
                                  "close": {"side": "all", "scope": "account"}, "strategy_id": rig.strategy_id}),
         rig.paired.id)).fetchone()
    assert job is not None
    done = await rig.final(job["id"])
    assert done["status"] == "completed" and done["result"]["note"] == "Closed 2 positions."
    assert rig.sim.positions_get() == ()


async def test_a_pending_order_is_an_entry_the_limits_hold(rig: TradeRig) -> None:
    await opened(rig, "buy", "EURUSD")
    settings(rig, max_open_positions=1)
    code, reason = await refused(rig, "buy", "GBPUSD", extra={"order": {"kind": "limit", "entry": {"pips": 15}}})
    assert (code, reason) == ("max_positions", "Maximum open positions: 1 positions are open; the limit is 1.")
    assert rig.sim.orders_get() == ()


async def test_a_reversal_closes_and_its_entry_is_refused_while_trading_is_off(rig: TradeRig) -> None:
    ticket = await opened(rig, "buy", "EURUSD")
    settings(rig, trading_enabled=False)
    job_id, signal_id = rig.trade("sell", "EURUSD", extra={"close_first": "long", "command": "closelongsell"})
    job = await rig.final(job_id)
    assert (job["status"], job["error_code"]) == ("failed", "trading_disabled")
    assert job["error_message"].startswith("The long position was closed; the new sell was not opened. Trading switch")
    assert rig.sim.positions_get(ticket=ticket) == () and rig.sim.positions_get(symbol="EURUSD.m") == ()
    assert rig.signal(signal_id)["status"] == "failed"


async def test_a_busy_agent_checks_each_entry_without_a_call_of_its_own(db: Db) -> None:
    # The limits come with each claimed entry: a busy agent still pays one database call per job
    # (and the intent), and the limits it checks are those the claim read.
    made = await make_rig(db)
    port = CountingPort(made.adapter)
    runner = TerminalRunner(port, made.creds, Mt5Terminal(SimulatedMt5(made.sim.engine)), emit=made.events.append,
                            reconcile_wait=0.3, risk_every=3600)
    agent = Agent(port, made.creds, runner, settings=FAST, emit=made.events.append)
    task = asyncio.get_running_loop().create_task(agent.run())
    try:
        await eventually(lambda: agent.state is AgentState.RUNNING)
        await eventually(lambda: any(name == "risk_state" for _, name in port.calls))  # the watch at start
        agent.pause()
        settings(made, max_open_positions=2)
        jobs = [made.trade("buy", symbol)[0] for symbol in ("EURUSD", "GBPUSD", "USDJPY")]
        moment = time.monotonic()
        agent.resume()
        finals = [await made.final(job_id) for job_id in jobs]
        assert [j["status"] for j in finals] == ["completed", "completed", "failed"]
        assert (finals[2]["error_code"], finals[2]["error_message"]) == (
            "max_positions", "Maximum open positions: 2 positions are open; the limit is 2.")
        calls = [name for _, name in port.since(moment) if name in (
            "claim_job", "complete_and_claim", "complete_job", "fail_job", "record_intent", "risk_state")]
        last = max(i for i, name in enumerate(calls) if name != "claim_job")
        assert calls[:last + 1] == ["claim_job", "record_intent", "complete_and_claim", "record_intent",
                                    "complete_and_claim", "fail_job"]
        assert set(calls[last + 1:]) <= {"claim_job"}, calls  # a look for more work after the last job
    finally:
        agent.stop()
        await asyncio.wait_for(task, 10)
        await made.adapter.close()
