"""The trader's risk limits, the day's loss, and which limit refuses a new entry.

Every limit is checked by the agent right before an entry is sent, against the terminal's own
figures (the authoritative check); ingestion refuses earlier what the database already knows.
Closes are never refused.

The daily loss is measured from the balance at the start of the broker's trading day (midnight
trade-server time): the loss realised since then (closed deals, with their commission, swap and
fees) plus the floating loss of the open positions, as a percent of that balance. Money deposited
or withdrawn during the day is not a profit or a loss: it moves the starting balance instead. Once
the loss reaches the limit, entries stay refused until the broker's next trading day, unless the
trader raises or removes the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tnm_desktop.domain import convert as c
from tnm_desktop.errors import UserError

# What each limit is called in Settings; every refusal names its limit by these words.
LIMIT_NAMES = {
    "trading_disabled": "Trading switch",
    "daily_loss": "Maximum daily loss",
    "equity_floor": "Equity floor",
    "max_positions": "Maximum open positions",
    "max_positions_symbol": "Maximum positions per symbol",
    "max_lot_size": "Maximum lot size",
}


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The limits the agent enforces, as the trader set them (``user_settings``); None: no limit."""

    trading_enabled: bool = True
    trading_off_reason: str | None = None
    max_daily_loss_pct: float | None = None
    close_all_on_daily_loss: bool = False
    equity_floor: float | None = None
    max_open_positions: int | None = None
    max_positions_per_symbol: int | None = None
    max_lot_size: float | None = None


@dataclass(frozen=True, slots=True)
class DailyLossLock:
    """A day on which the daily-loss limit was reached (entries refused until ``until``)."""

    trading_day: date
    until: datetime
    limit_pct: float
    loss_pct: float
    reason: str

    def holds(self, limits: RiskLimits, now: datetime) -> bool:
        """Whether entries are still refused: same day, and the limit not raised or removed since."""
        return (now < self.until and limits.max_daily_loss_pct is not None
                and limits.max_daily_loss_pct <= self.limit_pct + 1e-9)


@dataclass(frozen=True, slots=True)
class DayFigures:
    """The account's money since the trading day began, in the account currency."""

    day_start: datetime  # UTC moment the broker's trading day began
    trading_day: date  # that day, in trade-server time
    next_day: datetime  # UTC moment the next trading day begins
    start_balance: float  # with the day's deposits and withdrawals
    realised: float  # closed deals of the day, with commission, swap and fees
    floating: float  # open positions now
    currency: str = ""

    @property
    def pnl(self) -> float:
        """Realised plus floating profit (negative: a loss)."""
        return self.realised + self.floating

    @property
    def loss_pct(self) -> float:
        """The day's loss as a percent of the balance at its start (0 when in profit)."""
        if self.start_balance <= 0 or self.pnl >= 0:
            return 0.0
        return -self.pnl / self.start_balance * 100

    def describe(self) -> str:
        """The figures behind the percentage, as a trader reads them."""
        unit = f" {self.currency}" if self.currency else ""
        return (f"balance at the start of the trading day {self.start_balance:,.2f}{unit}; "
                f"realised {self.realised:+,.2f}, floating {self.floating:+,.2f}")


def trading_day(now: datetime, server_offset: timedelta) -> tuple[date, datetime, datetime]:
    """The broker's trading day at ``now`` (UTC): its date in server time, its start and the next start in UTC."""
    server_now = now.astimezone(UTC) + server_offset
    day = server_now.date()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - server_offset
    return day, start, start + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Money:
    """One deal's effect on the balance: trading (profit, commission, swap, fee) or a balance operation."""

    amount: float
    trading: bool


def day_figures(*, now: datetime, server_offset: timedelta, balance: float, floating: float,
                deals_today: list[Money], currency: str = "") -> DayFigures:
    """The day's figures from the account now and the deals done since the trading day began.

    Args:
        now: The moment of the figures (UTC).
        server_offset: How far the trade server's clock is ahead of UTC.
        balance: The balance now.
        floating: The open positions' profit now (the terminal's account profit: equity less
            balance and credit).
        deals_today: Every deal since the trading day began, balance operations included.
        currency: The account currency, for messages.
    """
    day, start, next_start = trading_day(now, server_offset)
    realised = sum(d.amount for d in deals_today if d.trading)
    return DayFigures(start, day, next_start, start_balance=round(balance - realised, 2), realised=round(realised, 2),
                      floating=round(floating, 2), currency=currency)


def _pct(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _refuse(limit: str, text: str) -> UserError:
    return UserError(f"{LIMIT_NAMES[limit]}: {text}", code=limit)


def daily_loss_reached(limits: RiskLimits, figures: DayFigures) -> str | None:
    """The reason text when the day's loss has reached the limit, else None."""
    limit = limits.max_daily_loss_pct
    if limit is None or figures.loss_pct + 1e-9 < limit:
        return None
    return (f"daily loss {_pct(figures.loss_pct)} % reached the {_pct(limit)} % limit "
            f"({figures.describe()})")


def check_entry(limits: RiskLimits, *, now: datetime, figures: DayFigures | None, equity: float,
                lock: DailyLossLock | None, open_positions: int, symbol_positions: int, symbol: str) -> None:
    """Raise the refusal (a UserError whose message names the limit and the figures) or return.

    Args:
        limits: The trader's limits now.
        now: The time of the check (UTC).
        figures: The day's figures from the terminal (None: not read, as no daily-loss limit is set).
        equity: The account's equity now.
        lock: A daily-loss lock recorded earlier today, if any.
        open_positions: Positions open on the account now.
        symbol_positions: Of those, on the symbol of the entry.
        symbol: The broker symbol of the entry.
    """
    if not limits.trading_enabled:
        why = limits.trading_off_reason or "trading is turned off"
        raise _refuse("trading_disabled", f"{why}. New entries are refused until trading is turned on again; "
                                          "closes still run.")
    reached = daily_loss_reached(limits, figures) if figures is not None else None
    if reached is None and lock is not None and lock.holds(limits, now):
        reached = lock.reason
    if reached is not None:
        raise _refuse("daily_loss", f"{reached}. New entries are refused until the broker's next trading day; "
                                    "closes still run.")
    if limits.equity_floor is not None and equity < limits.equity_floor:
        raise _refuse("equity_floor", f"equity {equity:,.2f} is below the floor of {limits.equity_floor:,.2f}.")
    if limits.max_open_positions is not None and open_positions >= limits.max_open_positions:
        raise _refuse("max_positions", f"{open_positions} positions are open; the limit is "
                                       f"{limits.max_open_positions}.")
    if limits.max_positions_per_symbol is not None and symbol_positions >= limits.max_positions_per_symbol:
        raise _refuse("max_positions_symbol", f"{symbol_positions} {symbol} positions are open; the limit is "
                                              f"{limits.max_positions_per_symbol} per symbol.")


@dataclass(frozen=True, slots=True)
class RiskState:
    """What the agent reads before an entry: the limits now and today's daily-loss lock, if any."""

    limits: RiskLimits
    lock: DailyLossLock | None = None

    @classmethod
    def from_json(cls, raw: Any) -> RiskState:
        """Build from what ``agent_risk_state`` returns."""
        data = c.json_object(raw)
        limits = c.json_object(data.get("limits"))
        lock = data.get("lock")
        return cls(
            RiskLimits(
                trading_enabled=bool(limits.get("trading_enabled", True)),
                trading_off_reason=c.opt_text(limits.get("trading_off_reason")),
                max_daily_loss_pct=c.opt_number(limits.get("max_daily_loss_pct")),
                close_all_on_daily_loss=bool(limits.get("close_all_on_daily_loss", False)),
                equity_floor=c.opt_number(limits.get("equity_floor")),
                max_open_positions=c.opt_int(limits.get("max_open_positions")),
                max_positions_per_symbol=c.opt_int(limits.get("max_positions_per_symbol")),
                max_lot_size=c.opt_number(limits.get("max_lot_size"))),
            None if not isinstance(lock, dict) else DailyLossLock(
                trading_day=date.fromisoformat(str(lock["trading_day"])), until=c.moment(lock["until"]),
                limit_pct=float(lock["limit_pct"]), loss_pct=float(lock["loss_pct"]), reason=str(lock["reason"])))


@dataclass(frozen=True, slots=True)
class StopResult:
    """What stopping trading did: entries cancelled in the queue, close-all jobs queued."""

    cancelled: int
    close_jobs: tuple[str, ...]

    @classmethod
    def from_json(cls, raw: Any) -> StopResult:
        """Build from what ``stop_trading`` returns."""
        data = c.json_object(raw)
        return cls(int(data.get("cancelled") or 0), tuple(str(j) for j in data.get("close_jobs") or ()))
