"""Open positions and pending orders, as the agent last read them from the terminal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tnm_desktop.domain import convert as c
from tnm_desktop.domain.jobs import AccountSnapshot

# MT5's pending order types (ORDER_TYPE_*) by their code, as the snapshot names them.
ORDER_TYPES = {2: "buy_limit", 3: "sell_limit", 4: "buy_stop", 5: "sell_stop", 6: "buy_stop_limit",
               7: "sell_stop_limit"}


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """One open position, with the job, signal and strategy that opened it when they are known."""

    ticket: int
    symbol: str
    side: str  # "buy" | "sell"
    volume: float
    price_open: float
    price_current: float
    sl: float | None
    tp: float | None
    profit: float
    swap: float
    magic: int
    comment: str
    opened_at: datetime
    job_id: str | None = None
    signal_id: str | None = None
    strategy_id: str | None = None

    @classmethod
    def from_json(cls, item: c.Row) -> OpenPosition:
        """Build from an element of ``position_snapshots.positions``."""
        return cls(
            ticket=int(item["ticket"]), symbol=str(item.get("symbol") or ""), side=str(item.get("side") or "buy"),
            volume=c.number(item.get("volume", 0)), price_open=c.number(item.get("price_open", 0)),
            price_current=c.number(item.get("price_current", 0)), sl=c.opt_number(item.get("sl")),
            tp=c.opt_number(item.get("tp")), profit=c.number(item.get("profit", 0)),
            swap=c.number(item.get("swap", 0)), magic=int(item.get("magic") or 0),
            comment=str(item.get("comment") or ""), opened_at=c.moment(item.get("opened_at") or "1970-01-01T00:00Z"),
            job_id=c.opt_text(item.get("job_id")), signal_id=c.opt_text(item.get("signal_id")),
            strategy_id=c.opt_text(item.get("strategy_id")))

    def to_json(self) -> dict[str, Any]:
        """The element the agent sends (origins are filled in by the database)."""
        return {"ticket": self.ticket, "symbol": self.symbol, "side": self.side, "volume": self.volume,
                "price_open": self.price_open, "price_current": self.price_current, "sl": self.sl, "tp": self.tp,
                "profit": self.profit, "swap": self.swap, "magic": self.magic, "comment": self.comment,
                "opened_at": self.opened_at.isoformat()}


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """One pending order (a limit or stop order waiting for its price)."""

    ticket: int
    symbol: str
    order_type: str  # see ORDER_TYPES
    volume: float
    price_open: float
    sl: float | None
    tp: float | None
    magic: int
    comment: str
    placed_at: datetime
    job_id: str | None = None
    signal_id: str | None = None
    strategy_id: str | None = None

    @property
    def side(self) -> str:
        """Buy or sell."""
        return "buy" if self.order_type.startswith("buy") else "sell"

    @classmethod
    def from_json(cls, item: c.Row) -> PendingOrder:
        """Build from an element of ``position_snapshots.orders``."""
        return cls(
            ticket=int(item["ticket"]), symbol=str(item.get("symbol") or ""),
            order_type=str(item.get("order_type") or "buy_limit"), volume=c.number(item.get("volume", 0)),
            price_open=c.number(item.get("price_open", 0)), sl=c.opt_number(item.get("sl")),
            tp=c.opt_number(item.get("tp")), magic=int(item.get("magic") or 0), comment=str(item.get("comment") or ""),
            placed_at=c.moment(item.get("placed_at") or "1970-01-01T00:00Z"), job_id=c.opt_text(item.get("job_id")),
            signal_id=c.opt_text(item.get("signal_id")), strategy_id=c.opt_text(item.get("strategy_id")))

    def to_json(self) -> dict[str, Any]:
        """The element the agent sends."""
        return {"ticket": self.ticket, "symbol": self.symbol, "order_type": self.order_type, "volume": self.volume,
                "price_open": self.price_open, "sl": self.sl, "tp": self.tp, "magic": self.magic,
                "comment": self.comment, "placed_at": self.placed_at.isoformat()}


@dataclass(frozen=True, slots=True)
class PositionsReport:
    """What the agent read from its terminal, to store as the account's snapshot."""

    taken_at: datetime
    account: AccountSnapshot
    positions: tuple[OpenPosition, ...]
    orders: tuple[PendingOrder, ...] = ()

    def account_json(self) -> dict[str, object]:
        """The account part, as ``record_positions`` takes it (the figures the terminal gave)."""
        a = self.account
        return {k: v for k, v in {"login": a.login, "server": a.server, "currency": a.currency,
                                  "balance": a.balance, "equity": a.equity, "margin": a.margin,
                                  "free_margin": a.free_margin, "profit": a.profit}.items()
                if v is not None}


@dataclass(frozen=True, slots=True)
class PositionsSnapshot:
    """An account's open positions and pending orders at ``taken_at`` (``position_snapshots``)."""

    id: str
    account_id: str
    agent_id: str | None
    taken_at: datetime
    currency: str
    balance: float | None
    equity: float | None
    margin: float | None
    free_margin: float | None
    profit: float | None
    positions: tuple[OpenPosition, ...]
    orders: tuple[PendingOrder, ...]

    @classmethod
    def from_row(cls, row: c.Row) -> PositionsSnapshot:
        """Build from a ``position_snapshots`` row."""
        positions = c.json_value(row.get("positions")) or []
        orders = c.json_value(row.get("orders")) or []
        return cls(
            id=c.text(row["id"]), account_id=c.text(row["account_id"]), agent_id=c.opt_text(row.get("agent_id")),
            taken_at=c.moment(row["taken_at"]), currency=str(row.get("currency") or "USD"),
            balance=c.opt_number(row.get("balance")), equity=c.opt_number(row.get("equity")),
            margin=c.opt_number(row.get("margin")), free_margin=c.opt_number(row.get("free_margin")),
            profit=c.opt_number(row.get("profit")),
            positions=tuple(OpenPosition.from_json(p) for p in positions if isinstance(p, dict)),
            orders=tuple(PendingOrder.from_json(o) for o in orders if isinstance(o, dict)))

    def age_seconds(self, now: datetime) -> float:
        """How old the reading is."""
        return max((now - self.taken_at).total_seconds(), 0.0)
