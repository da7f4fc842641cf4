"""Contract: broker connections, strategies and their webhook secrets."""

from __future__ import annotations

import pytest
from tnm_desktop.domain import BrokerConnectionDraft, StrategyDraft
from tnm_desktop.errors import UserError

from tests.data.backends import Backend
from tests.data.helpers import insert_signal, strategy_for


async def test_create_edit_disable_and_delete_a_strategy(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    broker = await port.create_broker_connection(
        BrokerConnectionDraft(name="IC Markets", symbol_suffix=".m", symbol_map={"XAUUSD": "GOLD"}))
    assert broker.broker_symbol("FX:EURUSD") == "EURUSD.m"
    assert broker.broker_symbol("xauusd") == "GOLD"
    created = await port.create_strategy(StrategyDraft(
        name="London breakout", broker_connection_id=broker.id, risk_override_pct=0.5,
        allowed_pairs=("EURUSD", "GBPUSD")))
    assert len(created.webhook_secret) == 48
    assert created.webhook_url("https://hooks.example.com/") == f"https://hooks.example.com/tv/{created.webhook_secret}"
    assert created.webhook_secret not in repr(created)

    edited = await port.update_strategy(created.id, StrategyDraft(
        name="London breakout v2", broker_connection_id=broker.id, risk_override_pct=None, allowed_pairs=None))
    assert (edited.name, edited.risk_override_pct, edited.allowed_pairs) == ("London breakout v2", None, None)
    assert edited.webhook_secret == created.webhook_secret
    disabled = await port.set_strategy_enabled(created.id, False)
    assert disabled.is_enabled is False
    assert [s.name for s in await port.list_strategies()] == ["London breakout v2"]
    await port.delete_strategy(created.id)
    assert await port.list_strategies() == []
    assert await port.get_strategy(created.id) is None


async def test_rotating_the_secret_changes_the_url(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    strategy = await strategy_for(port)
    rotated = await port.rotate_strategy_secret(strategy.id)
    assert rotated.webhook_secret != strategy.webhook_secret
    row = backend.db.admin.execute("select count(*) as n from tv_strategies where webhook_secret = %s",
                                   (strategy.webhook_secret,)).fetchone()
    assert row == {"n": 0}


async def test_deleting_a_broker_connection_in_use_is_refused_clearly(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    strategy = await strategy_for(port)
    with pytest.raises(UserError) as raised:
        await port.delete_broker_connection(strategy.broker_connection_id)
    assert raised.value.code == "in_use"
    assert "still used by strategies" in raised.value.message
    assert len(await port.list_broker_connections()) == 1
    await port.delete_strategy(strategy.id)
    await port.delete_broker_connection(strategy.broker_connection_id)
    assert await port.list_broker_connections() == []


async def test_strategy_validation_messages(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    strategy = await strategy_for(port, "Same")
    with pytest.raises(UserError) as duplicate:
        await port.create_strategy(StrategyDraft(name="Same", broker_connection_id=strategy.broker_connection_id))
    assert duplicate.value.message == "You already have a strategy with that name."
    with pytest.raises(UserError) as risk:
        await port.create_strategy(StrategyDraft(name="Risky", broker_connection_id=strategy.broker_connection_id,
                                                 risk_override_pct=250))
    assert "risk" in risk.value.message.lower()
    with pytest.raises(UserError):
        await port.create_strategy(StrategyDraft(name="  ", broker_connection_id=strategy.broker_connection_id))


async def test_strategy_stats(backend: Backend) -> None:
    user = backend.db.create_user()
    port = await backend.signed_in(user)
    busy, quiet = await strategy_for(port, "Busy"), await strategy_for(port, "Quiet")
    for _ in range(3):
        insert_signal(backend.db, user, busy.id)
    stats = {s.strategy_id: s for s in await port.strategy_stats()}
    assert stats[busy.id].signals_today == 3 and stats[busy.id].last_signal_at is not None
    assert stats[quiet.id].signals_today == 0 and stats[quiet.id].last_signal_at is None


async def test_settings_and_profile_round_trip(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    settings = await port.get_settings()
    changed = await port.update_settings(type(settings)(risk_percent=0.75, max_lot_size=2.5,
                                                        default_sl_pips=15, trading_enabled=False))
    # The trading switch is not saved with the other settings (stop_trading / start_trading turn it).
    assert (changed.risk_percent, changed.max_lot_size, changed.default_sl_pips, changed.trading_enabled) == \
        (0.75, 2.5, 15.0, True)
    assert (await port.get_settings()) == changed
    assert (await port.update_profile("Ana Trader")).display_name == "Ana Trader"
