"""Contract: positions snapshots, the history and its figures, agent health and notifications."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from tnm_desktop.data.port import Change, LiveState, Table
from tnm_desktop.domain import AccountSnapshot, AgentCredentials, AgentState
from tnm_desktop.domain.health import Health, health
from tnm_desktop.domain.history import HistoryFilter
from tnm_desktop.domain.notifications import (
    Channel,
    Notification,
    NotificationEvent,
    NotificationKind,
    NotificationSettings,
    SmtpSecurity,
)
from tnm_desktop.domain.positions import OpenPosition, PendingOrder, PositionsReport, PositionsSnapshot
from tnm_desktop.errors import UserError

from tests.data.backends import Backend
from tests.data.test_contract_jobs import new_key
from tests.waiting import eventually as wait_for

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def report(*tickets: int, balance: float = 10_000.0, taken_at: datetime | None = None) -> PositionsReport:
    positions = tuple(OpenPosition(ticket=t, symbol="EURUSD.m", side="buy", volume=0.1, price_open=1.08,
                                   price_current=1.0812, sl=1.078, tp=None, profit=12.0, swap=-0.3, magic=0,
                                   comment="by hand", opened_at=NOW) for t in tickets)
    order = PendingOrder(ticket=900, symbol="XAUUSD.m", order_type="buy_limit", volume=0.02, price_open=1990.0,
                         sl=None, tp=2050.0, magic=0, comment="", placed_at=NOW)
    account = AccountSnapshot(login=5001, server="Sim-Demo", currency="USD", balance=balance, equity=balance + 12)
    return PositionsReport(taken_at or datetime.now(UTC), account, positions, (order,))


async def test_the_agent_writes_a_snapshot_and_the_trader_sees_it_live(backend: Backend) -> None:
    alice, bob = backend.db.create_user(), backend.db.create_user()
    port, bob_port = await backend.signed_in(alice), await backend.signed_in(bob)
    key, hashed = new_key()
    agent = await port.create_agent("PC", "", hashed)
    creds = AgentCredentials(agent.id, key)
    changes: list[Change] = []
    sub = await port.subscribe([Table.POSITIONS], changes.append)
    await wait_for(lambda: sub.state is LiveState.LIVE)

    snapshot_id = await port.record_positions(creds, report(11, 12))
    await wait_for(lambda: any(c.id == snapshot_id for c in changes))
    live = next(c for c in changes if c.id == snapshot_id).row
    assert isinstance(live, PositionsSnapshot)
    assert [p.ticket for p in live.positions] == [11, 12] and live.positions[0].sl == 1.078
    assert live.positions[0].tp is None and live.positions[0].opened_at == NOW
    assert [(o.ticket, o.side, o.tp) for o in live.orders] == [(900, "buy", 2050.0)]
    assert (live.balance, live.equity, live.agent_id) == (10_000.0, 10_012.0, agent.id)

    await port.record_positions(creds, report(12, balance=10_050.0))
    (latest,) = await port.list_position_snapshots()
    assert [p.ticket for p in latest.positions] == [12] and latest.balance == 10_050.0
    (account,) = await port.list_accounts()
    assert latest.account_id == account.id
    points = await port.equity_curve(account.id)
    assert [p.balance for p in points] == [10_000.0, 10_050.0]  # the balance moved: a second point
    assert await bob_port.list_position_snapshots() == []
    assert await bob_port.equity_curve(account.id) == []
    await sub.close()


async def test_history_figures_and_days_through_the_port(backend: Backend) -> None:
    user = backend.db.create_user()
    port = await backend.signed_in(user)
    key, hashed = new_key()
    agent = await port.create_agent("PC", "", hashed)
    await port.record_positions(AgentCredentials(agent.id, key), report())
    (account,) = await port.list_accounts()
    day = datetime(2026, 11, 18, 10, tzinfo=UTC)
    deals = [(1, 101, "buy", "in", 1.1000, 0.0, day), (2, 101, "sell", "out", 1.1050, 50.0, day + timedelta(hours=1)),
             (3, 102, "buy", "in", 1.1000, 0.0, day), (4, 102, "sell", "out", 1.0980, -20.0, day + timedelta(days=1))]
    for ticket, position, side, entry, price, profit, at in deals:
        backend.db.admin.execute(
            "insert into trades (user_id, account_id, ticket, position_id, symbol, side, entry, volume, price, "
            "profit, executed_at) values (%s, %s, %s, %s, 'EURUSD.m', %s, %s, 0.1, %s, %s, %s)",
            (user.id, account.id, ticket, position, side, entry, price, profit, at))
    trades = await port.closed_trades(HistoryFilter())
    assert [(t.position_id, t.net, t.side, t.close_price) for t in trades] == [
        (102, -20.0, "buy", 1.098), (101, 50.0, "buy", 1.105)]
    assert [t.position_id for t in await port.closed_trades(HistoryFilter(until=day + timedelta(hours=2)))] == [101]
    stats = await port.trade_stats(HistoryFilter(account_id=account.id))
    assert (stats.overall.trades, stats.overall.win_rate, stats.overall.profit_factor) == (2, 50.0, 2.5)
    assert (stats.overall.avg_win, stats.overall.avg_loss, stats.overall.net) == (50.0, -20.0, 30.0)
    assert [(f.strategy_id, f.trades) for f in stats.by_strategy] == [(None, 2)]
    days = await port.daily_pnl(HistoryFilter(symbol="EURUSD.m"), "America/New_York")
    assert [(str(d.day), d.trades, d.net) for d in days] == [("2026-11-18", 1, 50.0), ("2026-11-19", 1, -20.0)]
    with pytest.raises(UserError):
        await port.daily_pnl(HistoryFilter(), "Nowhere/Atlantis")


async def test_a_silent_agent_is_swept_and_its_row_says_so(backend: Backend) -> None:
    user = backend.db.create_user()
    port = await backend.signed_in(user)
    key, hashed = new_key()
    agent = await port.create_agent("Desk PC", "", hashed)
    await port.heartbeat(AgentCredentials(agent.id, key), "running", None, "0.1.0", every_seconds=4)
    fetched = await port.get_agent(agent.id)
    assert fetched is not None and (fetched.heartbeat_every_s, fetched.stale_after_s) == (4, 8)
    assert health(fetched, datetime.now(UTC)) is Health.UP
    assert await port.sweep_stale_agents() == []
    backend.db.admin.execute("update mt5_agents set last_heartbeat_at = now() - interval '9 seconds' where id = %s",
                             (agent.id,))
    fetched = await port.get_agent(agent.id)
    assert fetched is not None and health(fetched, datetime.now(UTC)) is Health.DOWN
    assert await port.sweep_stale_agents() == [agent.id]
    swept = await port.get_agent(agent.id)
    assert swept is not None and swept.status is AgentState.OFFLINE and swept.down_since == swept.last_heartbeat_at
    assert [(n.kind, n.title) for n in await port.list_notifications()] == [(NotificationKind.AGENT_DOWN,
                                                                              "Agent offline")]


async def test_notification_settings_round_trip_and_stay_the_users(backend: Backend) -> None:
    alice, bob = backend.db.create_user(), backend.db.create_user()
    port, bob_port = await backend.signed_in(alice), await backend.signed_in(bob)
    assert await port.get_notification_settings() == NotificationSettings()
    wanted = NotificationSettings(telegram_enabled=True, telegram_chat_id="-100123", email_enabled=True,
                                  smtp_host="smtp.example.com", smtp_port=465, smtp_security=SmtpSecurity.SSL,
                                  smtp_username="me", email_from="tnm@example.com", email_to="me@example.com",
                                  events=(NotificationKind.AGENT_DOWN, NotificationKind.AGENT_BACK))
    assert await port.update_notification_settings(wanted) == wanted
    changed = NotificationSettings(telegram_enabled=False, telegram_chat_id="7")
    assert await port.update_notification_settings(changed) == changed
    assert await port.get_notification_settings() == changed
    assert await bob_port.get_notification_settings() == NotificationSettings()


async def test_events_are_recorded_once_and_each_delivery_claimed_once(backend: Backend) -> None:
    alice, bob = backend.db.create_user(), backend.db.create_user()
    port, other, bob_port = await backend.signed_in(alice), await backend.signed_in(alice, session_key="s2"), \
        await backend.signed_in(bob)
    changes: list[Change] = []
    sub = await port.subscribe([Table.NOTIFICATIONS], changes.append)
    await wait_for(lambda: sub.state is LiveState.LIVE)
    event = NotificationEvent("limit:daily_loss:2026-11-20", NotificationKind.LIMIT_REACHED,
                              "Daily loss limit reached", "No new trades until tomorrow.")
    assert await port.record_notification(event) is True
    assert await other.record_notification(event) is False
    await wait_for(lambda: any(isinstance(c.row, Notification) for c in changes))
    (note,) = [c.row for c in changes if isinstance(c.row, Notification)]
    assert (note.kind, note.title, note.body) == (event.kind, event.title, event.body)

    first, second = await asyncio.gather(port.claim_notifications([Channel.TELEGRAM, Channel.EMAIL], "app"),
                                         other.claim_notifications([Channel.TELEGRAM, Channel.EMAIL], "agent"))
    won = sorted((d.channel.value, d.notification_id) for d in first + second)
    assert won == [("email", note.id), ("telegram", note.id)]
    assert await bob_port.claim_notifications([Channel.TELEGRAM], "bob") == []
    await port.finish_notification(note.id, Channel.TELEGRAM)
    await port.finish_notification(note.id, Channel.EMAIL, "535 Authentication failed")
    rows = backend.db.admin.execute("select channel, status, error from notification_deliveries order by channel"
                                    ).fetchall()
    assert rows == [{"channel": "email", "status": "failed", "error": "535 Authentication failed"},
                    {"channel": "telegram", "status": "sent", "error": None}]
    assert await bob_port.list_notifications() == []
    await sub.close()
