"""The signed-in trader, their settings, and their paired agents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tnm_desktop.domain import convert as c


@dataclass(frozen=True, slots=True)
class Session:
    """Who is signed in, and where.

    The tokens that prove it stay inside the adapter (and the keyring); they are not here.
    """

    user_id: str
    email: str
    backend: str  # "local" or "supabase", for display only


@dataclass(frozen=True, slots=True)
class Profile:
    """The trader's profile row."""

    id: str
    email: str | None
    display_name: str

    @classmethod
    def from_row(cls, row: c.Row) -> Profile:
        """Build from a ``profiles`` row."""
        return cls(c.text(row["id"]), c.opt_text(row.get("email")), str(row.get("display_name") or ""))


@dataclass(frozen=True, slots=True)
class UserSettings:
    """The trader's sizing defaults and risk limits (``user_settings``).

    ``trading_enabled`` is the one trading switch; it is turned with ``stop_trading`` and
    ``start_trading`` (so that saving other settings can never turn it back on), and
    ``trading_off_by``/``trading_off_reason`` say who turned it off and why.
    """

    risk_percent: float = 1.0
    max_lot_size: float | None = None
    max_open_positions: int | None = None
    max_daily_loss_pct: float | None = None
    default_sl_pips: float | None = None
    default_lot_size: float = 0.01
    max_slippage_points: int = 20
    trading_enabled: bool = True
    max_positions_per_symbol: int | None = None
    equity_floor: float | None = None
    close_all_on_daily_loss: bool = False
    default_sl_pips_lots: float | None = None
    trading_off_by: str | None = None  # "app" | "alert" | "daily_loss" while trading is off
    trading_off_reason: str | None = None

    @classmethod
    def from_row(cls, row: c.Row) -> UserSettings:
        """Build from a ``user_settings`` row."""
        return cls(
            risk_percent=c.number(row["risk_percent"]),
            max_lot_size=c.opt_number(row.get("max_lot_size")),
            max_open_positions=c.opt_int(row.get("max_open_positions")),
            max_daily_loss_pct=c.opt_number(row.get("max_daily_loss_pct")),
            default_sl_pips=c.opt_number(row.get("default_sl_pips")),
            default_lot_size=c.number(row.get("default_lot_size", 0.01)),
            max_slippage_points=int(row.get("max_slippage_points", 20)),
            trading_enabled=bool(row.get("trading_enabled", True)),
            max_positions_per_symbol=c.opt_int(row.get("max_positions_per_symbol")),
            equity_floor=c.opt_number(row.get("equity_floor")),
            close_all_on_daily_loss=bool(row.get("close_all_on_daily_loss", False)),
            default_sl_pips_lots=c.opt_number(row.get("default_sl_pips_lots")),
            trading_off_by=c.opt_text(row.get("trading_off_by")),
            trading_off_reason=c.opt_text(row.get("trading_off_reason")),
        )

    def to_row(self) -> dict[str, object]:
        """The columns a settings form saves (the trading switch is turned on its own)."""
        return {
            "risk_percent": self.risk_percent,
            "max_lot_size": self.max_lot_size,
            "max_open_positions": self.max_open_positions,
            "max_daily_loss_pct": self.max_daily_loss_pct,
            "default_sl_pips": self.default_sl_pips,
            "default_lot_size": self.default_lot_size,
            "max_slippage_points": self.max_slippage_points,
            "max_positions_per_symbol": self.max_positions_per_symbol,
            "equity_floor": self.equity_floor,
            "close_all_on_daily_loss": self.close_all_on_daily_loss,
            "default_sl_pips_lots": self.default_sl_pips_lots,
        }


class AgentState(StrEnum):
    """What an agent reports in its heartbeat."""

    OFFLINE = "offline"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    DEGRADED = "degraded"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Agent:
    """A paired machine running the MT5 terminal (``mt5_agents``)."""

    id: str
    name: str
    machine_name: str
    terminal_path: str
    mt5_login: int | None
    mt5_server: str | None
    status: AgentState
    last_heartbeat_at: datetime | None
    last_error: str | None
    agent_version: str | None
    pairing_key_prefix: str
    revoked_at: datetime | None
    created_at: datetime
    # Health (see domain.health): how often it beats, when it counts as down, the outage's start.
    heartbeat_every_s: int = 15
    stale_after_s: int = 30
    down_since: datetime | None = None

    @property
    def paired(self) -> bool:
        """Whether the agent holds a usable key."""
        return bool(self.pairing_key_prefix) and self.revoked_at is None

    @classmethod
    def from_row(cls, row: c.Row) -> Agent:
        """Build from an ``mt5_agents`` row."""
        return cls(
            id=c.text(row["id"]),
            name=c.text(row["name"]),
            machine_name=str(row.get("machine_name") or ""),
            terminal_path=str(row.get("terminal_path") or ""),
            mt5_login=c.opt_int(row.get("mt5_login")),
            mt5_server=c.opt_text(row.get("mt5_server")),
            status=AgentState(row.get("status") or "offline"),
            last_heartbeat_at=c.opt_moment(row.get("last_heartbeat_at")),
            last_error=c.opt_text(row.get("last_error")),
            agent_version=c.opt_text(row.get("agent_version")),
            pairing_key_prefix=str(row.get("pairing_key_prefix") or ""),
            revoked_at=c.opt_moment(row.get("revoked_at")),
            created_at=c.moment(row["created_at"]),
            heartbeat_every_s=int(row.get("heartbeat_every_s") or 15),
            stale_after_s=int(row.get("stale_after_s") or 30),
            down_since=c.opt_moment(row.get("down_since")),
        )


@dataclass(frozen=True, slots=True)
class PairingKeyHashes:
    """What the database keeps of a pairing key: never the key itself.

    Attributes:
        bcrypt: Its bcrypt hash (``$2a$``), the column the seed asks for.
        sha256: Its SHA-256 in hex, what every agent call is checked against (a 256-bit random
            key needs no slow hash).
        prefix: ``pk_`` and its first 8 characters, shown to the trader.
    """

    bcrypt: str
    sha256: str
    prefix: str


@dataclass(frozen=True, slots=True)
class AgentCredentials:
    """An agent's id and its raw pairing key. The key never appears in a repr or a log."""

    agent_id: str
    key: str = field(repr=False)

    def __repr__(self) -> str:
        return f"AgentCredentials(agent_id={self.agent_id!r}, key='{self.key[:11]}…')"
