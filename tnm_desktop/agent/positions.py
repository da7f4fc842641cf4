"""The positions snapshot: what is open in the terminal, for the Positions & History page.

Written after every job that trades (an order, a close, a stop change) and on every account sync,
so the page is never more than a sync period behind the terminal, and right after the agent acts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import AccountSnapshot, AgentCredentials
from tnm_desktop.domain.positions import ORDER_TYPES, OpenPosition, PendingOrder, PositionsReport
from tnm_desktop.errors import TnmError
from tnm_desktop.terminal import port as terminal

log = logging.getLogger(__name__)


def open_position(p: terminal.Position) -> OpenPosition:
    """A terminal position as the snapshot keeps it."""
    return OpenPosition(ticket=p.ticket, symbol=p.symbol, side=p.side.value, volume=p.volume, price_open=p.price_open,
                        price_current=p.price_current, sl=p.sl, tp=p.tp, profit=p.profit, swap=p.swap, magic=p.magic,
                        comment=p.comment, opened_at=p.opened_at)


def pending_order(o: terminal.OrderRecord) -> PendingOrder:
    """A terminal pending order as the snapshot keeps it."""
    return PendingOrder(ticket=o.ticket, symbol=o.symbol, order_type=ORDER_TYPES.get(o.order_type, "buy_limit"),
                        volume=o.volume_current, price_open=o.price_open, sl=o.sl, tp=o.tp, magic=o.magic,
                        comment=o.comment, placed_at=o.setup_at)


def read_report(term: terminal.TerminalPort) -> PositionsReport:
    """Read the account, its positions and its pending orders (blocking: on the terminal's thread)."""
    taken_at = datetime.now(UTC)
    account = term.account()
    positions = term.positions()
    orders = term.orders()
    snapshot = AccountSnapshot(login=account.login, server=account.server, currency=account.currency,
                               balance=account.balance, equity=account.equity, margin=account.margin,
                               free_margin=account.free_margin, profit=account.profit)
    return PositionsReport(taken_at, snapshot, tuple(open_position(p) for p in positions),
                           tuple(pending_order(o) for o in orders))


@dataclass
class PositionsReporter:
    """Reads the terminal and stores the snapshot.

    Args:
        data: Where snapshots go.
        creds: The agent's credentials.
        terminal: The terminal (blocking).
        call: Runs a blocking terminal function on the terminal's thread.
    """

    data: AgentPort
    creds: AgentCredentials
    terminal: terminal.TerminalPort
    call: Callable[..., Awaitable[Any]]

    async def report(self) -> str | None:
        """Store a fresh snapshot; return its id, or None when the terminal or database failed (logged)."""
        try:
            report: PositionsReport = await self.call(read_report, self.terminal)
            return await self.data.record_positions(self.creds, report)
        except TnmError as exc:
            # The next job or sync writes another; a missing snapshot must not fail the trade.
            log.info("positions snapshot not written: %s", exc)
            return None
