"""The risk limits, checked against the terminal's own figures right before each entry.

The database says what the limits are (the trader may have changed them since the alert came);
the terminal says what the account is now. A limit reached refuses the entry with a reason that
names it. The daily loss is also watched between entries: the first time it reaches the limit in
a trading day the agent records it — the trader is notified once, ingestion refuses new entries
early, and, if the trader asked for it, trading is turned off and everything is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from tnm_desktop.agent.events import AgentEvent, LogLine
from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import AgentCredentials
from tnm_desktop.domain.risk import (
    DailyLossLock,
    DayFigures,
    Money,
    RiskState,
    check_entry,
    daily_loss_reached,
    day_figures,
    trading_day,
)
from tnm_desktop.terminal.port import AccountSnapshot, DealKind, Position, TerminalPort

log = logging.getLogger(__name__)
_TRADING = (DealKind.BUY, DealKind.SELL)


@dataclass(frozen=True, slots=True)
class AccountNow:
    """The account as the terminal reports it at one moment."""

    account: AccountSnapshot
    positions: tuple[Position, ...]
    figures: DayFigures | None = None  # read only when a daily-loss limit needs them


@dataclass
class RiskGate:
    """Checks entries against the limits; watches the daily loss.

    Args:
        data: Where the limits are read and a reached daily loss is recorded.
        creds: The agent's credentials.
        terminal: The terminal (blocking).
        call: Runs a blocking terminal function on the terminal's thread and awaits it.
        emit: Agent events (a log line when a limit is reached).
    """

    data: AgentPort
    creds: AgentCredentials
    terminal: TerminalPort
    call: Callable[..., Any]
    emit: Callable[[AgentEvent], None] = lambda _event: None
    _recorded: set[tuple[date, float]] = field(default_factory=set, init=False, repr=False)

    def read_day(self, account: AccountSnapshot) -> DayFigures:
        """The day's figures: the deals since the broker's trading day began (blocking, on the terminal's thread)."""
        offset = self.terminal.server_time_offset()
        now = datetime.now(UTC)
        deals = self.terminal.deals_since(trading_day(now, offset)[1])
        money = [Money(d.profit + d.commission + d.swap + d.fee, d.kind in _TRADING) for d in deals]
        return day_figures(now=now, server_offset=offset, balance=account.balance, floating=account.profit,
                           deals_today=money, currency=account.currency)

    async def check(self, state: RiskState, now: AccountNow, broker_symbol: str) -> None:
        """Raise the refusal of an entry on ``broker_symbol`` (a UserError naming the limit), or return."""
        figures = now.figures
        if figures is None and state.limits.max_daily_loss_pct is not None:
            # Only a daily-loss limit needs the day's deals: without one the entry skips that read.
            figures = await self.call(self.read_day, now.account)
        if figures is not None:
            await self._note_daily_loss(state, figures)
        check_entry(state.limits, now=datetime.now(UTC), figures=figures, equity=now.account.equity,
                    lock=state.lock, open_positions=len(now.positions),
                    symbol_positions=sum(1 for p in now.positions if p.symbol == broker_symbol), symbol=broker_symbol)

    async def watch(self) -> None:
        """Look at the daily loss once (between entries); record it when it reached the limit."""
        state = await self.data.risk_state(self.creds)
        if state.limits.max_daily_loss_pct is None:
            return
        account = await self.call(self.terminal.account)
        await self._note_daily_loss(state, await self.call(self.read_day, account))

    async def _note_daily_loss(self, state: RiskState, figures: DayFigures) -> None:
        reason = daily_loss_reached(state.limits, figures)
        limit = state.limits.max_daily_loss_pct
        if reason is None or limit is None:
            return
        if state.lock is not None and state.lock.holds(state.limits, datetime.now(UTC)):
            return  # recorded already (by this run or another)
        key = (figures.trading_day, limit)
        if key in self._recorded:
            return
        lock = DailyLossLock(figures.trading_day, figures.next_day, limit, round(figures.loss_pct, 4), reason)
        new = await self.data.record_daily_loss(self.creds, lock)
        self._recorded.add(key)
        if new:
            then = ("; trading is turned off and every position is being closed."
                    if state.limits.close_all_on_daily_loss else ".")
            text = f"Maximum daily loss: {reason}. New entries are refused until the broker's next trading day{then}"
            log.warning(text)
            # The trader is told through the notification outbox: the lock's own event (SQL).
            self.emit(LogLine(datetime.now(UTC), "warning", text))
