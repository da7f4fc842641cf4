"""Broker connections, accounts, strategies, signals and sync health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tnm_desktop.domain import convert as c
from tnm_desktop.domain.orders import TradingWindow


@dataclass(frozen=True, slots=True)
class BrokerConnection:
    """A broker account that strategies route to, served by one agent."""

    id: str
    name: str
    agent_id: str | None
    broker_name: str
    server: str
    login: int | None
    account_type: str
    symbol_suffix: str
    symbol_map: dict[str, str]
    is_active: bool
    # Symbol -> pip size, where the broker counts pips otherwise than the rule (domain/pips.py).
    pip_sizes: dict[str, float] = field(default_factory=dict)

    def broker_symbol(self, tradingview_symbol: str) -> str:
        """Map a TradingView symbol (``FX:EURUSD``, ``EURUSD``) to this broker's symbol."""
        bare = tradingview_symbol.split(":")[-1].strip().upper()
        return self.symbol_map.get(bare) or f"{bare}{self.symbol_suffix}"

    @classmethod
    def from_row(cls, row: c.Row) -> BrokerConnection:
        """Build from a ``broker_connections`` row."""
        return cls(
            id=c.text(row["id"]), name=c.text(row["name"]), agent_id=c.opt_text(row.get("agent_id")),
            broker_name=str(row.get("broker_name") or ""), server=str(row.get("server") or ""),
            login=c.opt_int(row.get("login")), account_type=str(row.get("account_type") or "demo"),
            symbol_suffix=str(row.get("symbol_suffix") or ""),
            symbol_map={str(k): str(v) for k, v in c.json_object(row.get("symbol_map")).items()},
            is_active=bool(row.get("is_active", True)),
            pip_sizes={str(k): float(v) for k, v in c.json_object(row.get("pip_sizes")).items()},
        )


@dataclass(frozen=True, slots=True)
class BrokerConnectionDraft:
    """What the user types to create or edit a broker connection."""

    name: str
    agent_id: str | None = None
    broker_name: str = ""
    server: str = ""
    login: int | None = None
    account_type: str = "demo"
    symbol_suffix: str = ""
    symbol_map: dict[str, str] = field(default_factory=dict)
    is_active: bool = True
    pip_sizes: dict[str, float] = field(default_factory=dict)

    def to_row(self) -> dict[str, object]:
        """The columns to write."""
        return {"name": self.name, "agent_id": self.agent_id, "broker_name": self.broker_name,
                "server": self.server, "login": self.login, "account_type": self.account_type,
                "symbol_suffix": self.symbol_suffix, "symbol_map": dict(self.symbol_map),
                "is_active": self.is_active, "pip_sizes": dict(self.pip_sizes)}


@dataclass(frozen=True, slots=True)
class TradingAccount:
    """The synced state of one broker account."""

    id: str
    broker_connection_id: str | None
    login: int
    server: str
    broker_name: str
    name: str
    currency: str
    leverage: int | None
    balance: float
    equity: float
    margin: float
    free_margin: float
    margin_level: float | None
    profit: float
    is_active: bool
    connection_status: str
    last_sync_at: datetime | None
    last_successful_sync_at: datetime | None
    sync_failure_count: int
    last_connection_error: str | None

    @classmethod
    def from_row(cls, row: c.Row) -> TradingAccount:
        """Build from a ``trading_accounts`` row."""
        return cls(
            id=c.text(row["id"]), broker_connection_id=c.opt_text(row.get("broker_connection_id")),
            login=int(row["login"]), server=c.text(row["server"]),
            broker_name=str(row.get("broker_name") or ""), name=str(row.get("name") or ""),
            currency=str(row.get("currency") or "USD"), leverage=c.opt_int(row.get("leverage")),
            balance=c.number(row.get("balance", 0)), equity=c.number(row.get("equity", 0)),
            margin=c.number(row.get("margin", 0)), free_margin=c.number(row.get("free_margin", 0)),
            margin_level=c.opt_number(row.get("margin_level")), profit=c.number(row.get("profit", 0)),
            is_active=bool(row.get("is_active", True)),
            connection_status=str(row.get("connection_status") or "pending"),
            last_sync_at=c.opt_moment(row.get("last_sync_at")),
            last_successful_sync_at=c.opt_moment(row.get("last_successful_sync_at")),
            sync_failure_count=int(row.get("sync_failure_count") or 0),
            last_connection_error=c.opt_text(row.get("last_connection_error")),
        )


@dataclass(frozen=True, slots=True)
class Strategy:
    """A TradingView strategy with its webhook secret (never shown in a repr)."""

    id: str
    name: str
    broker_connection_id: str
    webhook_secret: str = field(repr=False)
    risk_override_pct: float | None
    allowed_pairs: tuple[str, ...] | None
    is_enabled: bool
    created_at: datetime
    updated_at: datetime
    opposite_signal: str = "close"  # Opposite: "close" | "reverse" | "hedge"
    # How PineConnector's sl=/tp= and price= are read ("pips", "price", "percent"), what accfilter=
    # compares with, and when entries are allowed (None: always). See domain/orders.py.
    target_type: str = "pips"
    entry_type: str = "pips"
    account_filter: str = "balance"
    trading_window: TradingWindow | None = None

    def webhook_url(self, base_url: str) -> str:
        """The URL to paste into TradingView."""
        return f"{base_url.rstrip('/')}/tv/{self.webhook_secret}"

    @classmethod
    def from_row(cls, row: c.Row) -> Strategy:
        """Build from a ``tv_strategies`` row."""
        return cls(
            id=c.text(row["id"]), name=c.text(row["name"]),
            broker_connection_id=c.text(row["broker_connection_id"]),
            webhook_secret=c.text(row["webhook_secret"]),
            risk_override_pct=c.opt_number(row.get("risk_override_pct")),
            allowed_pairs=c.str_tuple(row.get("allowed_pairs")),
            is_enabled=bool(row.get("is_enabled", True)),
            created_at=c.moment(row["created_at"]), updated_at=c.moment(row["updated_at"]),
            opposite_signal=str(row.get("opposite_signal") or "close"),
            target_type=str(row.get("target_type") or "pips"), entry_type=str(row.get("entry_type") or "pips"),
            account_filter=str(row.get("account_filter") or "balance"),
            trading_window=TradingWindow.parse(c.json_value(row.get("trading_window"))),
        )


@dataclass(frozen=True, slots=True)
class StrategyDraft:
    """What the user types to create or edit a strategy (the secret is generated, never typed)."""

    name: str
    broker_connection_id: str
    risk_override_pct: float | None = None
    allowed_pairs: tuple[str, ...] | None = None
    is_enabled: bool = True
    opposite_signal: str = "close"
    target_type: str = "pips"
    entry_type: str = "pips"
    account_filter: str = "balance"
    trading_window: TradingWindow | None = None

    def to_row(self) -> dict[str, object]:
        """The columns to write."""
        return {"name": self.name, "broker_connection_id": self.broker_connection_id,
                "risk_override_pct": self.risk_override_pct,
                "allowed_pairs": list(self.allowed_pairs) if self.allowed_pairs is not None else None,
                "is_enabled": self.is_enabled, "opposite_signal": self.opposite_signal,
                "target_type": self.target_type, "entry_type": self.entry_type, "account_filter": self.account_filter,
                "trading_window": self.trading_window.to_json() if self.trading_window else None}


@dataclass(frozen=True, slots=True)
class StrategyStats:
    """What the strategies table shows beside each strategy."""

    strategy_id: str
    last_signal_at: datetime | None
    signals_today: int


class SignalStatus(StrEnum):
    """A signal's state: pending → executed | failed | discarded."""

    PENDING = "pending"
    EXECUTED = "executed"
    FAILED = "failed"
    DISCARDED = "discarded"


@dataclass(frozen=True, slots=True)
class Signal:
    """One received TradingView alert (``tv_signals``)."""

    id: str
    strategy_id: str
    symbol: str | None
    action: str | None
    price: float | None
    raw_payload: Any
    status: SignalStatus
    fill_price: float | None
    broker_order_id: str | None
    error_message: str | None
    job_id: str | None
    received_at: datetime
    resolved_at: datetime | None

    @property
    def cursor(self) -> SignalCursor:
        """The key to page on from this signal."""
        return SignalCursor(self.received_at, self.id)

    @classmethod
    def from_row(cls, row: c.Row) -> Signal:
        """Build from a ``tv_signals`` row."""
        return cls(
            id=c.text(row["id"]), strategy_id=c.text(row["strategy_id"]),
            symbol=c.opt_text(row.get("symbol")), action=c.opt_text(row.get("action")),
            price=c.opt_number(row.get("price")), raw_payload=c.json_value(row.get("raw_payload")),
            status=SignalStatus(row["status"]), fill_price=c.opt_number(row.get("fill_price")),
            broker_order_id=c.opt_text(row.get("broker_order_id")),
            error_message=c.opt_text(row.get("error_message")), job_id=c.opt_text(row.get("job_id")),
            received_at=c.moment(row["received_at"]), resolved_at=c.opt_moment(row.get("resolved_at")),
        )


# What a page of the signal log reads of each row: all but the raw payload (the detail's).
PAGE_COLUMNS = ("id", "strategy_id", "symbol", "action", "price", "status", "fill_price", "broker_order_id",
                "error_message", "job_id", "received_at", "resolved_at")


@dataclass(frozen=True, slots=True)
class SignalCursor:
    """Keyset position in the signal log: newest first, id breaking ties."""

    received_at: datetime
    id: str


@dataclass(frozen=True, slots=True)
class SignalFilter:
    """What the signal log shows; None means any."""

    strategy_id: str | None = None
    status: SignalStatus | None = None
    symbol: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class SyncHealth:
    """One row of ``account_sync_health``."""

    account_id: str
    login: int
    server: str
    broker_name: str
    currency: str
    balance: float
    equity: float
    is_active: bool
    connection_status: str
    last_sync_at: datetime | None
    last_successful_sync_at: datetime | None
    sync_failure_count: int
    last_connection_error: str | None
    total_syncs_24h: int
    successful_syncs_24h: int
    failed_syncs_24h: int
    success_rate_pct: float | None
    avg_duration_ms: int | None
    is_stale: bool

    @classmethod
    def from_row(cls, row: c.Row) -> SyncHealth:
        """Build from an ``account_sync_health`` row."""
        return cls(
            account_id=c.text(row["account_id"]), login=int(row["login"]), server=c.text(row["server"]),
            broker_name=str(row.get("broker_name") or ""), currency=str(row.get("currency") or ""),
            balance=c.number(row["balance"]), equity=c.number(row["equity"]),
            is_active=bool(row["is_active"]), connection_status=str(row["connection_status"]),
            last_sync_at=c.opt_moment(row.get("last_sync_at")),
            last_successful_sync_at=c.opt_moment(row.get("last_successful_sync_at")),
            sync_failure_count=int(row.get("sync_failure_count") or 0),
            last_connection_error=c.opt_text(row.get("last_connection_error")),
            total_syncs_24h=int(row.get("total_syncs_24h") or 0),
            successful_syncs_24h=int(row.get("successful_syncs_24h") or 0),
            failed_syncs_24h=int(row.get("failed_syncs_24h") or 0),
            success_rate_pct=c.opt_number(row.get("success_rate_pct")),
            avg_duration_ms=c.opt_int(row.get("avg_duration_ms")),
            is_stale=bool(row.get("is_stale")),
        )


@dataclass(frozen=True, slots=True)
class SyncLog:
    """One sync attempt (``sync_logs``, and the rows of ``recent_sync_failures``)."""

    id: str
    account_id: str
    sync_type: str
    status: str
    started_at: datetime
    completed_at: datetime | None
    duration_ms: int | None
    trades_synced: int
    error_message: str | None
    login: int | None = None
    server: str | None = None

    @classmethod
    def from_row(cls, row: c.Row) -> SyncLog:
        """Build from a ``sync_logs`` or ``recent_sync_failures`` row."""
        return cls(
            id=c.text(row["id"]), account_id=c.text(row["account_id"]), sync_type=c.text(row["sync_type"]),
            status=c.text(row["status"]), started_at=c.moment(row["started_at"]),
            completed_at=c.opt_moment(row.get("completed_at")), duration_ms=c.opt_int(row.get("duration_ms")),
            trades_synced=int(row.get("trades_synced") or 0), error_message=c.opt_text(row.get("error_message")),
            login=c.opt_int(row.get("login")), server=c.opt_text(row.get("server")),
        )
