"""Contract: a strategy's settings and connections, a signal's legs, and the agent's position rules."""

from __future__ import annotations

import json
from datetime import time

import pytest
from tnm_desktop.domain import AgentCredentials, BrokerConnectionDraft, JobStatus, StrategyDraft
from tnm_desktop.domain.orders import Breakeven, Manage, TradingWindow, Trailing
from tnm_desktop.domain.routing import StrategyConnection
from tnm_desktop.errors import UserError

from tests.data.backends import Backend
from tests.data.helpers import strategy_for
from tests.data.test_contract_jobs import new_key


async def test_the_strategys_order_settings_are_saved_and_read_back(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    broker = await port.create_broker_connection(BrokerConnectionDraft(name="Main"))
    window = TradingWindow((1, 2, 3, 4, 5), time(8), time(17, 30), "Europe/London")
    created = await port.create_strategy(StrategyDraft(name="Pine", broker_connection_id=broker.id,
                                                       target_type="price", entry_type="percent",
                                                       account_filter="equity", trading_window=window))
    assert (created.target_type, created.entry_type, created.account_filter, created.trading_window) == (
        "price", "percent", "equity", window)
    edited = await port.update_strategy(created.id, StrategyDraft(name="Pine", broker_connection_id=broker.id))
    assert (edited.target_type, edited.trading_window) == ("pips", None)
    with pytest.raises(UserError, match="Unknown time zone"):
        await port.update_strategy(created.id, StrategyDraft(
            name="Pine", broker_connection_id=broker.id,
            trading_window=TradingWindow((1,), time(8), time(9), "Europe/Atlantis")))


async def test_a_strategy_trades_on_several_connections(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    strategy = await strategy_for(port)
    second = await port.create_broker_connection(BrokerConnectionDraft(name="Prop account"))
    assert await port.strategy_connections(strategy.id) == [StrategyConnection(strategy.broker_connection_id)]
    saved = await port.set_strategy_connections(strategy.id, [
        StrategyConnection(strategy.broker_connection_id), StrategyConnection(second.id, 0.5, 0.25)])
    assert saved == [StrategyConnection(strategy.broker_connection_id, 1.0, None),
                     StrategyConnection(second.id, 0.5, 0.25)]
    swapped = await port.set_strategy_connections(strategy.id, [StrategyConnection(second.id, 2.0)])
    assert swapped == [StrategyConnection(second.id, 2.0)]
    reread = await port.get_strategy(strategy.id)
    assert reread is not None and reread.broker_connection_id == second.id  # the first is the strategy's own
    with pytest.raises(UserError, match="at least one broker connection"):
        await port.set_strategy_connections(strategy.id, [])
    other = await backend.signed_in(backend.db.create_user())
    assert await other.strategy_connections(strategy.id) == []


async def test_a_signals_legs_and_what_its_rules_did(backend: Backend) -> None:
    user = backend.db.create_user()
    port = await backend.signed_in(user)
    key, hashed = new_key()
    agent = await port.create_agent("Desk", "DESK", hashed)
    creds = AgentCredentials(agent.id, key)
    strategy = await strategy_for(port)
    second = await port.create_broker_connection(BrokerConnectionDraft(name="Second", agent_id=agent.id))
    first = await port.update_broker_connection(strategy.broker_connection_id, BrokerConnectionDraft(
        name="First", agent_id=agent.id, symbol_suffix=".m"))
    await port.set_strategy_connections(strategy.id, [StrategyConnection(first.id), StrategyConnection(second.id)])
    manage = Manage(breakeven=Breakeven(10, 1), trailing=Trailing(20, 15, 5))
    secret = backend.db.admin.execute("select webhook_secret from tv_strategies where id = %s",
                                      (strategy.id,)).fetchone()
    assert secret is not None
    accepted = backend.db.admin.execute(
        "select signal_id::text from ingest_tv_signal(%s, %s)",
        (secret["webhook_secret"], json.dumps({"action": "buy", "symbol": "EURUSD", "lots": 0.1, "betrigger": 10,
                                               "beoffset": 1, "trailtrig": 20, "traildist": 15, "trailstep": 5}))
    ).fetchone()
    assert accepted is not None
    signal_id = accepted["signal_id"]
    legs = await port.signal_legs(signal_id)
    assert [(j.payload["connection_name"], j.payload["broker_symbol"], j.status) for j in legs] == [
        ("First", "EURUSD.m", JobStatus.PENDING), ("Second", "EURUSD", JobStatus.PENDING)]
    assert legs[0].payload["manage"] == manage.to_json()

    claimed = await port.claim_job(creds)
    assert claimed is not None
    await port.complete_job(creds, claimed, {"position": 5001, "price": 1.085, "volume": 0.1})
    (rule,) = await port.position_rules(creds)
    assert (rule.ticket, rule.side, rule.entry_price, rule.manage, rule.state) == (5001, "buy", 1.085, manage, "active")
    begun = await port.position_rule_step(creds, rule.id, "begin", {"seq": 1, "kind": "breakeven", "sl": 1.0851,
                                                                    "price": 1.0861})
    assert begun.pending is not None and begun.pending["sl"] == 1.0851
    again = await port.position_rule_step(creds, rule.id, "begin", {"seq": 1, "kind": "breakeven", "sl": 1.0851})
    assert again.pending == begun.pending  # a retry changes nothing
    done = await port.position_rule_step(creds, rule.id, "finish", {"seq": 1})
    assert (done.stop, done.be_done, done.changes, done.pending) == (1.0851, True, 1, None)
    assert (await port.position_rule_step(creds, rule.id, "finish", {"seq": 1})).changes == 1  # recorded once
    with pytest.raises(UserError, match="not the next one"):
        await port.position_rule_step(creds, rule.id, "begin", {"seq": 5, "kind": "trailing", "sl": 1.09})
    ended = await port.position_rule_step(creds, rule.id, "end", {"reason": "closed at its stop"})
    assert ended.state == "done" and await port.position_rules(creds) == []
    events = await port.rule_events(signal_id)
    assert [(e.kind, e.sl, e.price) for e in events] == [("breakeven", 1.0851, 1.0861), ("ended", None, None)]
    assert events[0].describe() == "Stop moved to breakeven at 1.0851 (price 1.0861)"
    other = await backend.signed_in(backend.db.create_user())
    assert await other.rule_events(signal_id) == [] and await other.signal_legs(signal_id) == []
