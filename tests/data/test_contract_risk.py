"""Contract: the trading switch, the limits the agent reads, the daily-loss lock, and the new
strategy and connection fields, through both adapters."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from tnm_desktop.domain import AgentCredentials, BrokerConnectionDraft, JobFilter, JobStatus, JobType, StrategyDraft
from tnm_desktop.domain.risk import DailyLossLock
from tnm_desktop.errors import OperationalError

from tests.data.backends import Backend
from tests.data.test_contract_jobs import new_key


async def test_stop_and_start_trading(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    key, hashed = new_key()
    agent = await port.create_agent("Desk PC", "DESK-01", hashed)
    stopped = await port.stop_trading()
    assert (stopped.cancelled, stopped.close_jobs) == (0, ())
    settings = await port.get_settings()
    assert (settings.trading_enabled, settings.trading_off_by, settings.trading_off_reason) == (
        False, "app", "trading was stopped with Stop trading in the app")
    # Saving the other settings never turns trading back on.
    saved = await port.update_settings(replace(settings, risk_percent=0.5, trading_enabled=True))
    assert (saved.risk_percent, saved.trading_enabled) == (0.5, False)
    everything = await port.stop_trading(close_all=True)
    jobs = await port.list_jobs(JobFilter(job_type=JobType.CLOSE_POSITION))
    assert [j.id for j in jobs] == list(everything.close_jobs)
    assert jobs[0].target_agent_id == agent.id and jobs[0].payload["scope"] == "account"
    started = await port.start_trading()
    assert (started.trading_enabled, started.trading_off_by) == (True, None)
    state = await port.risk_state(AgentCredentials(agent.id, key))
    assert state.limits.trading_enabled and state.lock is None


async def test_the_agent_reads_the_limits_and_records_a_daily_loss_once(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    key, hashed = new_key()
    agent = await port.create_agent("Desk PC", "DESK-01", hashed)
    creds = AgentCredentials(agent.id, key)
    settings = await port.update_settings(replace(await port.get_settings(), max_daily_loss_pct=2.0,
                                                  max_positions_per_symbol=2, equity_floor=9000.0,
                                                  close_all_on_daily_loss=False, default_sl_pips_lots=30.0))
    assert (settings.max_positions_per_symbol, settings.equity_floor, settings.default_sl_pips_lots) == (
        2, 9000.0, 30.0)
    limits = (await port.risk_state(creds)).limits
    assert (limits.max_daily_loss_pct, limits.max_positions_per_symbol, limits.equity_floor) == (2.0, 2, 9000.0)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=6)
    lock = DailyLossLock(datetime.now(UTC).date(), until, 2.0, 2.35, "daily loss 2.35 % reached the 2 % limit")
    assert await port.record_daily_loss(creds, lock) is True
    assert await port.record_daily_loss(creds, replace(lock, loss_pct=2.6)) is False
    assert (await port.risk_state(creds)).lock == lock
    with pytest.raises(OperationalError):
        await port.risk_state(AgentCredentials(agent.id, "pk_" + "0" * 64))


async def test_a_strategys_opposite_setting_and_a_connections_pip_sizes(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    broker = await port.create_broker_connection(BrokerConnectionDraft("Broker", pip_sizes={"XAUUSD": 0.01}))
    assert broker.pip_sizes == {"XAUUSD": 0.01}
    strategy = await port.create_strategy(StrategyDraft("Trend", broker.id))
    assert strategy.opposite_signal == "close"  # the safe one, unless chosen
    changed = await port.update_strategy(strategy.id, StrategyDraft("Trend", broker.id, opposite_signal="reverse"))
    assert changed.opposite_signal == "reverse"


async def test_a_claimed_entry_brings_the_limits_it_is_checked_against(backend: Backend) -> None:
    # Both claims (alone, and chained to a completion) answer an entry with the limits and the
    # lock as they are at the claim: the agent needs no call of its own before the entry.
    user = backend.db.create_user()
    port = await backend.signed_in(user)
    key, hashed = new_key()
    agent = await port.create_agent("Desk PC", "DESK-01", hashed)
    creds = AgentCredentials(agent.id, key)
    await port.update_settings(replace(await port.get_settings(), max_daily_loss_pct=2.0, max_positions_per_symbol=3))
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=6)
    lock = DailyLossLock(datetime.now(UTC).date(), until, 2.0, 2.35, "daily loss 2.35 % reached the 2 % limit")
    assert await port.record_daily_loss(creds, lock)
    for payload in ({"action": "buy", "symbol": "EURUSD"}, {"action": "close", "symbol": "EURUSD"},
                    {"action": "sell", "symbol": "GBPUSD"}):
        backend.db.admin.execute("insert into jobs (user_id, job_type, payload) values (%s, 'trade', %s)",
                                 (user.id, json.dumps(payload)))
    entry = await port.claim_job(creds)
    assert entry is not None and entry.job.payload["action"] == "buy" and entry.risk is not None
    assert (entry.risk.limits.max_daily_loss_pct, entry.risk.limits.max_positions_per_symbol) == (2.0, 3)
    assert entry.risk.lock == lock and entry.risk == await port.risk_state(creds)
    close = await port.complete_and_claim(creds, entry, {})
    assert close is not None and close.job.payload["action"] == "close" and close.risk is None  # a close always passes
    await port.update_settings(replace(await port.get_settings(), max_positions_per_symbol=1))
    second = await port.complete_and_claim(creds, close, {})
    assert second is not None and second.job.payload["action"] == "sell" and second.risk is not None
    assert second.risk.limits.max_positions_per_symbol == 1  # read at this claim, not at the first
    assert second.lease_token and second.job.status is JobStatus.RUNNING
