"""Account sync: the terminal's account and deals into the database, one sync_logs row per attempt."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tnm_desktop.agent.events import AgentEvent, TerminalSeen
from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import AccountSnapshot, AgentCredentials, DealRecord, SyncReport
from tnm_desktop.errors import OperationalError, TransientError
from tnm_desktop.terminal.port import Deal, DealKind, TerminalPort

FIRST_SYNC_LOOKBACK = timedelta(days=30)
# Deals can be stamped a little before the moment we last asked (server clocks, in-flight deals).
OVERLAP = timedelta(minutes=5)


def deal_record(deal: Deal) -> DealRecord | None:
    """A terminal deal as a ``trades`` row; None for balance operations."""
    if deal.kind not in (DealKind.BUY, DealKind.SELL):
        return None
    return DealRecord(ticket=deal.ticket, symbol=deal.symbol, side=deal.kind.value, entry=deal.entry.value,
                      volume=deal.volume, price=deal.price, executed_at=deal.time, order_ticket=deal.order,
                      position_id=deal.position_id, profit=deal.profit, commission=deal.commission + deal.fee,
                      swap=deal.swap, magic=deal.magic, comment=deal.comment)


@dataclass
class AccountSync:
    """Syncs one terminal's account.

    Args:
        data: Where sync results go.
        creds: The agent's credentials.
        terminal: The terminal (blocking).
        call: Runs a blocking terminal function on the terminal's thread.
        emit: Reports what was seen of the terminal.
        fallback_account: Login and server to file a failure under when the terminal was never reached.
    """

    data: AgentPort
    creds: AgentCredentials
    terminal: TerminalPort
    call: Callable[..., Awaitable[Any]]
    emit: Callable[[AgentEvent], None]
    fallback_account: tuple[int, str] | None = None
    _since: datetime | None = field(default=None, repr=False)
    _account: tuple[int, str] | None = field(default=None, repr=False)

    async def sync(self, sync_type: str) -> str | None:
        """Sync once; return the sync_logs id (None when there is no account to file it under)."""
        started = datetime.now(UTC)
        clock = time.monotonic()
        since = self._since or started - FIRST_SYNC_LOOKBACK
        try:
            account = await self.call(self.terminal.account)
            offset = await self.call(self.terminal.server_time_offset)
            deals = await self.call(self.terminal.deals_since, since)
        except (TransientError, OperationalError) as exc:
            where = self._account or self.fallback_account
            self.emit(TerminalSeen(False, False))
            if where is None:
                raise
            report = SyncReport(sync_type, "failed", started, int((time.monotonic() - clock) * 1000),
                                AccountSnapshot(login=where[0], server=where[1]), (), exc.message)
            return await self.data.record_sync(self.creds, report)
        self._account = (account.login, account.server)
        records = tuple(r for r in (deal_record(d) for d in deals) if r is not None)
        snapshot = AccountSnapshot(
            login=account.login, server=account.server, broker_name=account.company, name=account.name,
            currency=account.currency, leverage=account.leverage, balance=account.balance, equity=account.equity,
            margin=account.margin, free_margin=account.free_margin,
            margin_level=account.margin_level or None, profit=account.profit,
            server_time_offset=int(offset.total_seconds()))
        report = SyncReport(sync_type, "success", started, int((time.monotonic() - clock) * 1000), snapshot, records)
        log_id = await self.data.record_sync(self.creds, report)
        self._since = started - OVERLAP
        self.emit(TerminalSeen(True, True, account.login, account.server, account.balance, account.equity,
                               account.currency))
        return log_id
