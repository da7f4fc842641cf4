"""Positions, the closed-trade history, agent health and notifications, over psycopg."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from psycopg.types.json import Jsonb

from tnm_desktop.data.local.db import UserDb
from tnm_desktop.domain import AgentCredentials
from tnm_desktop.domain import convert as c
from tnm_desktop.domain.history import ClosedTrade, DailyPnl, EquityPoint, HistoryFilter, TradeStats
from tnm_desktop.domain.notifications import (
    Channel,
    ClaimedDelivery,
    Notification,
    NotificationEvent,
    NotificationSettings,
)
from tnm_desktop.domain.positions import PositionsReport, PositionsSnapshot


class DeskQueries:
    """The Positions & History page, the agent's snapshots, health and the notification outbox."""

    _db: UserDb

    def _user_id(self) -> str:
        raise NotImplementedError

    # Positions --------------------------------------------------------------------------------

    async def record_positions(self, creds: AgentCredentials, report: PositionsReport) -> str:
        """Store the account's positions and pending orders as just read from the terminal."""
        row = await self._db.one(
            "select record_positions(%s, %s, %s, %s, %s, %s) as id",
            (creds.agent_id, creds.key, report.taken_at, Jsonb(report.account_json()),
             Jsonb([p.to_json() for p in report.positions]), Jsonb([o.to_json() for o in report.orders])))
        return c.text(row["id"])

    async def list_position_snapshots(self) -> list[PositionsSnapshot]:
        """Each account's latest snapshot."""
        return [PositionsSnapshot.from_row(r) for r in await self._db.rows(
            "select * from position_snapshots order by taken_at desc")]

    async def _snapshots_by_id(self, ids: Sequence[str]) -> list[PositionsSnapshot]:
        return [PositionsSnapshot.from_row(r) for r in await self._db.rows(
            "select * from position_snapshots where id = any(%s::uuid[])", (list(ids),))]

    # History ----------------------------------------------------------------------------------

    async def closed_trades(self, filters: HistoryFilter) -> list[ClosedTrade]:
        """Closed trades, newest first."""
        return [ClosedTrade.from_row(r) for r in await self._db.rows(
            "select * from closed_trades(%s, %s, %s, %s, %s, %s)", (*_filter_args(filters), filters.limit))]

    async def trade_stats(self, filters: HistoryFilter) -> TradeStats:
        """Win rate, averages, profit factor and slippage, overall and per strategy."""
        return TradeStats.from_rows(await self._db.rows("select * from trade_stats(%s, %s, %s, %s, %s)",
                                                        _filter_args(filters)))

    async def daily_pnl(self, filters: HistoryFilter, time_zone: str = "UTC") -> list[DailyPnl]:
        """P&L per day, oldest first."""
        return [DailyPnl.from_row(r) for r in await self._db.rows(
            "select * from daily_pnl(%s, %s, %s, %s, %s, %s)", (*_filter_args(filters), time_zone))]

    async def equity_curve(self, account_id: str, *, since: datetime | None = None, until: datetime | None = None,
                           points: int = 500) -> list[EquityPoint]:
        """The account's balance and equity over time."""
        return [EquityPoint.from_row(r) for r in await self._db.rows(
            "select * from equity_curve(%s, %s, %s, %s)", (account_id, since, until, points))]

    # Health and notifications -----------------------------------------------------------------

    async def sweep_stale_agents(self) -> list[str]:
        """Mark the user's silent agents offline; return their ids."""
        return [c.text(r["id"]) for r in await self._db.rows("select * from sweep_stale_agents() as id")]

    async def get_notification_settings(self) -> NotificationSettings:
        """Where notifications go (defaults until saved once)."""
        return NotificationSettings.from_row(await self._db.row("select * from notification_settings"))

    async def update_notification_settings(self, settings: NotificationSettings) -> NotificationSettings:
        """Save where notifications go."""
        row = settings.to_row()
        return NotificationSettings.from_row(await self._db.one(
            "insert into notification_settings (user_id, telegram_enabled, telegram_chat_id, email_enabled, "
            "smtp_host, smtp_port, smtp_security, smtp_username, email_from, email_to, events) values "
            "(%(user_id)s, %(telegram_enabled)s, %(telegram_chat_id)s, %(email_enabled)s, %(smtp_host)s, "
            "%(smtp_port)s, %(smtp_security)s, %(smtp_username)s, %(email_from)s, %(email_to)s, %(events)s) "
            "on conflict (user_id) do update set telegram_enabled = excluded.telegram_enabled, "
            "telegram_chat_id = excluded.telegram_chat_id, email_enabled = excluded.email_enabled, "
            "smtp_host = excluded.smtp_host, smtp_port = excluded.smtp_port, smtp_security = excluded.smtp_security, "
            "smtp_username = excluded.smtp_username, email_from = excluded.email_from, email_to = excluded.email_to, "
            "events = excluded.events returning *", {**row, "user_id": self._user_id()}))

    async def record_notification(self, event: NotificationEvent) -> bool:
        """Record an event once per key; True when this call recorded it."""
        row = await self._db.one("select record_notification(%s, %s, %s, %s) as new",
                                 (event.event_key, event.kind.value, event.title, event.body))
        return bool(row["new"])

    async def claim_notifications(self, channels: Collection[Channel], claimed_by: str) -> list[ClaimedDelivery]:
        """Take the deliveries no one has claimed on ``channels``."""
        if not channels:
            return []
        return [ClaimedDelivery.from_row(r) for r in await self._db.rows(
            "select * from claim_notifications(%s, %s)", ([ch.value for ch in channels], claimed_by))]

    async def finish_notification(self, notification_id: str, channel: Channel, error: str | None = None) -> None:
        """Report a claimed delivery sent or failed."""
        await self._db.rows("select finish_notification(%s, %s, %s)", (notification_id, channel.value, error))

    async def list_notifications(self, limit: int = 50) -> list[Notification]:
        """The latest recorded events, newest first."""
        return [Notification.from_row(r) for r in await self._db.rows(
            "select * from notifications order by created_at desc, id limit %s", (limit,))]

    async def _notifications_by_id(self, ids: Sequence[str]) -> list[Notification]:
        return [Notification.from_row(r) for r in await self._db.rows(
            "select * from notifications where id = any(%s::uuid[])", (list(ids),))]


def _filter_args(f: HistoryFilter) -> tuple[object, ...]:
    return (f.account_id, f.strategy_id, f.symbol, f.since, f.until)
