"""The closed-trade history and its figures (computed in SQL: closed_trades, trade_stats, daily_pnl)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from tnm_desktop.domain import convert as c


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """Which closed trades to show; None means any. ``symbol`` is the broker's (``EURUSD.m``)."""

    account_id: str | None = None
    strategy_id: str | None = None
    symbol: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A position whose closing deals cover its opening ones; ``net`` = profit + commission + swap."""

    account_id: str
    position_id: int
    symbol: str
    side: str
    volume: float
    open_price: float | None
    close_price: float | None
    opened_at: datetime | None
    closed_at: datetime
    profit: float
    commission: float
    swap: float
    net: float
    magic: int
    strategy_id: str | None
    signal_id: str | None
    job_id: str | None

    @classmethod
    def from_row(cls, row: c.Row) -> ClosedTrade:
        """Build from a ``closed_trades()`` row."""
        return cls(
            account_id=c.text(row["account_id"]), position_id=int(row["position_id"]), symbol=c.text(row["symbol"]),
            side=c.text(row["side"]), volume=c.number(row["volume"]), open_price=c.opt_number(row.get("open_price")),
            close_price=c.opt_number(row.get("close_price")), opened_at=c.opt_moment(row.get("opened_at")),
            closed_at=c.moment(row["closed_at"]), profit=c.number(row["profit"]),
            commission=c.number(row["commission"]), swap=c.number(row["swap"]), net=c.number(row["net"]),
            magic=int(row.get("magic") or 0), strategy_id=c.opt_text(row.get("strategy_id")),
            signal_id=c.opt_text(row.get("signal_id")), job_id=c.opt_text(row.get("job_id")))


@dataclass(frozen=True, slots=True)
class Figures:
    """Win rate, average win and loss, profit factor, slippage: of everything, or of one strategy."""

    strategy_id: str | None
    trades: int
    wins: int
    losses: int
    win_rate: float | None  # percent
    gross_profit: float
    gross_loss: float  # zero or negative
    net: float
    avg_win: float | None
    avg_loss: float | None  # negative
    profit_factor: float | None  # None without a losing trade
    avg_slippage_pips: float | None  # positive: filled worse than the alert's price
    slippage_samples: int

    @classmethod
    def from_row(cls, row: c.Row) -> Figures:
        """Build from a ``trade_stats()`` row."""
        return cls(
            strategy_id=c.opt_text(row.get("strategy_id")), trades=int(row["trades"]), wins=int(row["wins"]),
            losses=int(row["losses"]), win_rate=c.opt_number(row.get("win_rate")),
            gross_profit=c.number(row["gross_profit"]), gross_loss=c.number(row["gross_loss"]),
            net=c.number(row["net"]), avg_win=c.opt_number(row.get("avg_win")),
            avg_loss=c.opt_number(row.get("avg_loss")), profit_factor=c.opt_number(row.get("profit_factor")),
            avg_slippage_pips=c.opt_number(row.get("avg_slippage_pips")),
            slippage_samples=int(row.get("slippage_samples") or 0))


@dataclass(frozen=True, slots=True)
class TradeStats:
    """The figures of everything the filter selects, then per strategy (None: opened by no strategy)."""

    overall: Figures
    by_strategy: tuple[Figures, ...]

    @classmethod
    def from_rows(cls, rows: Sequence[c.Row]) -> TradeStats:
        """Build from the rows of ``trade_stats()`` (the 'all' row first)."""
        overall = next((Figures.from_row(r) for r in rows if r["scope"] == "all"), None)
        if overall is None:
            overall = Figures(None, 0, 0, 0, None, 0.0, 0.0, 0.0, None, None, None, None, 0)
        return cls(overall, tuple(Figures.from_row(r) for r in rows if r["scope"] == "strategy"))


@dataclass(frozen=True, slots=True)
class DailyPnl:
    """The trades that closed on one day (in the trader's time zone) and their result."""

    day: date
    trades: int
    wins: int
    net: float

    @classmethod
    def from_row(cls, row: c.Row) -> DailyPnl:
        """Build from a ``daily_pnl()`` row."""
        day = row["day"]
        return cls(day if isinstance(day, date) else date.fromisoformat(str(day)), int(row["trades"]),
                   int(row["wins"]), c.number(row["net"]))


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """The account's balance and equity at one moment."""

    at: datetime
    balance: float
    equity: float

    @classmethod
    def from_row(cls, row: c.Row) -> EquityPoint:
        """Build from an ``equity_curve()`` row."""
        return cls(c.moment(row["at"]), c.number(row["balance"]), c.number(row["equity"]))
