"""Positions, the closed-trade history, agent health and notifications over PostgREST and RPC."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from tnm_desktop.data.supabase.queries import QueriesBase
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


def _filter_args(f: HistoryFilter) -> dict[str, Any]:
    return {"p_account_id": f.account_id, "p_strategy_id": f.strategy_id, "p_symbol": f.symbol,
            "p_since": f.since.isoformat() if f.since else None, "p_until": f.until.isoformat() if f.until else None}


class DeskQueries(QueriesBase):
    """The Positions & History page, the agent's snapshots, health and the notification outbox."""

    # Positions --------------------------------------------------------------------------------

    async def record_positions(self, creds: AgentCredentials, report: PositionsReport) -> str:
        """Store the account's positions and pending orders as just read from the terminal."""
        args: dict[str, Any] = {
            "p_agent_id": creds.agent_id, "p_pairing_key": creds.key, "p_taken_at": report.taken_at.isoformat(),
            "p_account": c.to_json(report.account_json()), "p_positions": [p.to_json() for p in report.positions],
            "p_orders": [o.to_json() for o in report.orders]}
        return c.text(await self._rest.value(lambda r: r.rpc("record_positions", args)))

    async def list_position_snapshots(self) -> list[PositionsSnapshot]:
        """Each account's latest snapshot."""
        return [PositionsSnapshot.from_row(row) for row in await self._rest.rows(
            lambda r: r.from_("position_snapshots").select("*").order("taken_at", desc=True))]

    async def _snapshots_by_id(self, ids: Sequence[str]) -> list[PositionsSnapshot]:
        return [PositionsSnapshot.from_row(row) for row in await self._rest.by_ids("position_snapshots", ids)]

    # History ----------------------------------------------------------------------------------

    async def closed_trades(self, filters: HistoryFilter) -> list[ClosedTrade]:
        """Closed trades, newest first (``closed_trades``)."""
        args = {**_filter_args(filters), "p_limit": filters.limit}
        return [ClosedTrade.from_row(row) for row in await self._rest.rows(lambda r: r.rpc("closed_trades", args))]

    async def trade_stats(self, filters: HistoryFilter) -> TradeStats:
        """Win rate, averages, profit factor and slippage (``trade_stats``)."""
        args = _filter_args(filters)
        return TradeStats.from_rows(await self._rest.rows(lambda r: r.rpc("trade_stats", args)))

    async def daily_pnl(self, filters: HistoryFilter, time_zone: str = "UTC") -> list[DailyPnl]:
        """P&L per day, oldest first (``daily_pnl``)."""
        args = {**_filter_args(filters), "p_time_zone": time_zone}
        return [DailyPnl.from_row(row) for row in await self._rest.rows(lambda r: r.rpc("daily_pnl", args))]

    async def equity_curve(self, account_id: str, *, since: datetime | None = None, until: datetime | None = None,
                           points: int = 500) -> list[EquityPoint]:
        """The account's balance and equity over time (``equity_curve``)."""
        args: dict[str, Any] = {"p_account_id": account_id, "p_since": since.isoformat() if since else None,
                                "p_until": until.isoformat() if until else None, "p_points": points}
        return [EquityPoint.from_row(row) for row in await self._rest.rows(lambda r: r.rpc("equity_curve", args))]

    # Health and notifications -----------------------------------------------------------------

    async def sweep_stale_agents(self) -> list[str]:
        """Mark the user's silent agents offline; return their ids (``sweep_stale_agents``)."""
        found = await self._rest.value(lambda r: r.rpc("sweep_stale_agents", {}))
        return [c.text(v) for v in found or []]

    async def get_notification_settings(self) -> NotificationSettings:
        """Where notifications go (defaults until saved once)."""
        return NotificationSettings.from_row(await self._rest.first(
            lambda r: r.from_("notification_settings").select("*")))

    async def update_notification_settings(self, settings: NotificationSettings) -> NotificationSettings:
        """Save where notifications go: update the row, or create it the first time."""
        uid = self._user_id()
        body = settings.to_row()
        updated = await self._rest.first(
            lambda r: r.from_("notification_settings").update(body).eq("user_id", uid))
        if updated is not None:
            return NotificationSettings.from_row(updated)
        return NotificationSettings.from_row(await self._rest.single(
            lambda r: r.from_("notification_settings").insert({**body, "user_id": uid}).single()))

    async def record_notification(self, event: NotificationEvent) -> bool:
        """Record an event once per key (``record_notification``); True when this call recorded it."""
        args: dict[str, Any] = {"p_event_key": event.event_key, "p_kind": event.kind.value, "p_title": event.title,
                                "p_body": event.body}
        return bool(await self._rest.value(lambda r: r.rpc("record_notification", args)))

    async def claim_notifications(self, channels: Collection[Channel], claimed_by: str) -> list[ClaimedDelivery]:
        """Take the deliveries no one has claimed on ``channels`` (``claim_notifications``)."""
        if not channels:
            return []
        args: dict[str, Any] = {"p_channels": [ch.value for ch in channels], "p_claimed_by": claimed_by}
        return [ClaimedDelivery.from_row(row) for row in await self._rest.rows(
            lambda r: r.rpc("claim_notifications", args))]

    async def finish_notification(self, notification_id: str, channel: Channel, error: str | None = None) -> None:
        """Report a claimed delivery sent or failed (``finish_notification``)."""
        args: dict[str, Any] = {"p_notification_id": notification_id, "p_channel": channel.value, "p_error": error}
        await self._rest.value(lambda r: r.rpc("finish_notification", args))

    async def list_notifications(self, limit: int = 50) -> list[Notification]:
        """The latest recorded events, newest first."""
        return [Notification.from_row(row) for row in await self._rest.rows(
            lambda r: r.from_("notifications").select("*").order("created_at", desc=True).limit(limit))]

    async def _notifications_by_id(self, ids: Sequence[str]) -> list[Notification]:
        return [Notification.from_row(row) for row in await self._rest.by_ids("notifications", ids)]
