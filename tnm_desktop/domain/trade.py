"""The ``trade`` job payload: what signal ingestion writes and the agent executes.

Ingestion (SQL, ``tnm_privileged.ingest_tv_signal``) resolves everything it can when the alert
arrives — the broker symbol, the risk to use, the trader's limits — so the job is self-contained
and the agent needs no extra reads on the path of the order. One job per broker connection of
the strategy (``leg`` of ``legs``). Example::

    {"signal_id": "…", "strategy_id": "…", "broker_connection_id": "…", "connection_name": "Main",
     "leg": 1, "legs": 1, "action": "buy", "command": "buylimit",
     "symbol": "EURUSD", "broker_symbol": "EURUSD.m",
     "sizing": {"mode": "risk", "risk_pct": 1.0},          # or {"mode": "lots", "lots": 0.1}
     "sl": {"pips": 20}, "tp": {"price": 1.0950},          # each optional; pips, price or percent
     "order": {"kind": "limit", "entry": {"pips": 15}, "stoplimit": null, "expiry_minutes": 60},
     "close_first": null,                                  # "long"/"short": close that side, then open
     "manage": {"breakeven": {...}, "trailing": {...}, "targets": [...], "be_after_tp1": false},
     "filters": {"max_spread_points": 20, "account": {"basis": "equity", "above": 1000}},
     "window": {"days": [1, 2, 3, 4, 5], "start": "08:00", "end": "17:00", "time_zone": "Europe/London"},
     "close": null,                                        # for action "close": see Close
     "cancel": null,                                       # for action "cancel": see orders.Cancel
     "opposite": "close",                                  # what a buy does to open shorts: Opposite
     "pip_size": null,                                     # the connection's pip size for the symbol
     "alert_price": 1.0912, "comment": "", "allowed_pairs": ["EURUSD"],
     "limits": {"max_lot_size": 2.0, "default_sl_pips": 25, "default_sl_pips_lots": null,
                "default_lot_size": 0.01, "max_slippage_points": 20, "max_open_positions": null,
                "trading_enabled": true}}

The risk limits in ``limits`` are what the settings were when the alert arrived (shown with the
job); the agent checks the limits as they are right before it sends the order.

A ``modify_position`` job (new stops for open positions, from a newsltp alert or the app) is read
by :class:`ModifyInstruction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tnm_desktop.domain.orders import Cancel, Filters, Level, Manage, PendingEntry, TradingWindow
from tnm_desktop.errors import UserError

# How a trade refused for its age is explained in the signal log; the notifications tell these
# refusals apart by it, so that a burst the terminal could not take in time is told once.
STALE_REASON = "Not executed: the alert was"


def stale_reason(age_s: int, limit_s: int) -> str:
    """The signal log's reason for an alert refused because it waited too long."""
    return (f"{STALE_REASON} {age_s} s old when its turn came (the limit is {limit_s} s), and a late order would "
            "trade at a price you did not see. Alerts came faster than the terminal could take them, or while "
            "the agent was not running.")


__all__ = ["NO_STOP", "STALE_REASON", "Cancel", "Close", "Filters", "Level", "Limits", "Manage",
           "ModifyInstruction", "PendingEntry", "Sizing", "TradeInstruction", "TradingWindow", "stale_reason"]


@dataclass(frozen=True, slots=True)
class Sizing:
    """How big the order is: a % of balance at risk (needs a stop) or fixed lots."""

    mode: str  # "risk" | "lots"
    risk_pct: float | None = None
    lots: float | None = None

    @staticmethod
    def parse(raw: Any) -> Sizing:
        """Read ``{"mode": "risk", "risk_pct": x}`` or ``{"mode": "lots", "lots": x}``."""
        if not isinstance(raw, dict) or raw.get("mode") not in ("risk", "lots"):
            raise UserError(f"Invalid sizing: {raw!r}", code="invalid_payload")
        if raw["mode"] == "risk":
            risk = float(raw.get("risk_pct") or 0)
            if not 0 < risk <= 100:
                raise UserError("Risk must be more than 0 % and at most 100 %.", code="invalid_payload")
            return Sizing("risk", risk_pct=risk)
        lots = float(raw.get("lots") or 0)
        if lots <= 0:
            raise UserError("Lots must be positive.", code="invalid_payload")
        return Sizing("lots", lots=lots)


class Opposite(StrEnum):
    """What a strategy's signal does to the strategy's open positions on the other side.

    ``CLOSE`` (the default): a sell while the strategy is long closes the long and opens nothing,
    so an exit can never open a reverse position. ``REVERSE``: it closes the long, then opens the
    short. ``HEDGE``: it opens the short and leaves the long open (hedging accounts).
    """

    CLOSE = "close"
    REVERSE = "reverse"
    HEDGE = "hedge"


@dataclass(frozen=True, slots=True)
class Close:
    """Which positions a ``close`` alert closes, and how much of them.

    ``side``: "long", "short" or "all". ``fraction``: 0 < f <= 1 of each position's volume;
    ``volume``: lots to close instead (from the largest position down). Neither: close fully.
    ``scope``: "symbol" (the alert's symbol, the strategy's positions) or "account" (every
    position and pending order of the account, whatever its symbol or origin: ``closeall``).
    """

    side: str = "all"
    fraction: float | None = None
    volume: float | None = None
    scope: str = "symbol"

    @staticmethod
    def parse(raw: Any) -> Close:
        """Read the ``close`` object (null means close everything on the symbol)."""
        if raw is None:
            return Close()
        if (not isinstance(raw, dict) or raw.get("side", "all") not in ("long", "short", "all")
                or raw.get("scope", "symbol") not in ("symbol", "account")):
            raise UserError(f"Invalid close instruction: {raw!r}", code="invalid_payload")
        fraction = raw.get("fraction")
        volume = raw.get("volume")
        if fraction is not None and not 0 < float(fraction) <= 1:
            raise UserError("A partial close must be more than 0 % and at most 100 %.", code="invalid_payload")
        return Close(str(raw.get("side", "all")), float(fraction) if fraction is not None else None,
                     float(volume) if volume is not None else None, str(raw.get("scope", "symbol")))


@dataclass(frozen=True, slots=True)
class Limits:
    """The trader's limits at the time the alert arrived (from ``user_settings``)."""

    max_lot_size: float | None = None
    default_sl_pips: float | None = None  # for orders sized by risk
    default_sl_pips_lots: float | None = None  # for orders of fixed lots
    default_lot_size: float = 0.01
    max_slippage_points: int = 20
    max_open_positions: int | None = None
    trading_enabled: bool = True

    @staticmethod
    def parse(raw: Any) -> Limits:
        """Read the ``limits`` object (missing keys take defaults)."""
        raw = raw if isinstance(raw, dict) else {}

        def opt(key: str) -> float | None:
            value = raw.get(key)
            return None if value is None else float(value)

        max_open = raw.get("max_open_positions")
        return Limits(
            max_lot_size=opt("max_lot_size"), default_sl_pips=opt("default_sl_pips"),
            default_sl_pips_lots=opt("default_sl_pips_lots"),
            default_lot_size=float(raw.get("default_lot_size") or 0.01),
            max_slippage_points=int(raw.get("max_slippage_points") or 20),
            max_open_positions=int(max_open) if max_open is not None else None,
            trading_enabled=bool(raw.get("trading_enabled", True)),
        )


@dataclass(frozen=True, slots=True)
class TradeInstruction:
    """A ``trade`` job's payload, validated."""

    action: str  # "buy" | "sell" | "close" | "cancel"
    symbol: str  # TradingView symbol, upper case, no exchange prefix
    broker_symbol: str
    sizing: Sizing | None  # None for close and cancel
    sl: Level | None
    tp: Level | None
    close: Close | None
    limits: Limits
    allowed_pairs: tuple[str, ...] | None = None
    opposite: Opposite = Opposite.CLOSE
    pip_size: float | None = None
    alert_price: float | None = None
    comment: str = ""
    signal_id: str | None = None
    strategy_id: str | None = None
    broker_connection_id: str | None = None
    command: str = ""  # the order's kind as the alert named it: "buy", "buylimit", "closeshortbuy", …
    order: PendingEntry | None = None  # None: a market order
    close_first: str | None = None  # "long" | "short": close that side of the symbol, then open
    manage: Manage | None = None
    filters: Filters | None = None
    window: TradingWindow | None = None
    cancel: Cancel | None = None

    @staticmethod
    def from_payload(payload: dict[str, Any]) -> TradeInstruction:
        """Validate a ``trade`` job payload; raise UserError(invalid_payload) saying what is wrong."""
        action = payload.get("action")
        if action not in ("buy", "sell", "close", "cancel"):
            raise UserError(f"Unknown trade action {action!r}.", code="invalid_payload")
        symbol = str(payload.get("symbol") or "").upper()
        broker_symbol = str(payload.get("broker_symbol") or "")
        close = Close.parse(payload.get("close")) if action == "close" else None
        # Closing the whole account (closeall) needs no symbol; everything else does.
        if (not symbol or not broker_symbol) and (close is None or close.scope != "account"):
            raise UserError("The trade has no symbol.", code="invalid_payload")
        pairs = payload.get("allowed_pairs")
        price = payload.get("alert_price")
        pip = payload.get("pip_size")
        try:
            opposite = Opposite(payload.get("opposite") or Opposite.CLOSE)
        except ValueError as exc:
            raise UserError(f"Unknown opposite-signal setting {payload.get('opposite')!r}.",
                            code="invalid_payload") from exc
        entering = action in ("buy", "sell")
        close_first = payload.get("close_first")
        if close_first not in (None, "long", "short"):
            raise UserError(f"Invalid close_first: {close_first!r}", code="invalid_payload")
        return TradeInstruction(
            action=str(action), symbol=symbol, broker_symbol=broker_symbol,
            sizing=Sizing.parse(payload.get("sizing")) if entering else None,
            sl=Level.parse(payload.get("sl")), tp=Level.parse(payload.get("tp")),
            close=close,
            limits=Limits.parse(payload.get("limits")),
            allowed_pairs=tuple(str(p).upper() for p in pairs) if pairs is not None else None,
            opposite=opposite, pip_size=float(pip) if pip is not None and float(pip) > 0 else None,
            alert_price=float(price) if price is not None else None,
            comment=str(payload.get("comment") or "")[:64],
            signal_id=payload.get("signal_id"), strategy_id=payload.get("strategy_id"),
            broker_connection_id=payload.get("broker_connection_id"),
            command=str(payload.get("command") or action),
            order=PendingEntry.parse(payload.get("order")) if entering else None,
            close_first=close_first if entering else None,
            manage=Manage.parse(payload.get("manage")) if entering else None,
            filters=Filters.parse(payload.get("filters")) if entering else None,
            window=TradingWindow.parse(payload.get("window")) if entering else None,
            cancel=Cancel.parse(payload.get("cancel") or {}) if action == "cancel" else None,
        )

    def pair_allowed(self) -> bool:
        """Whether the strategy's whitelist (if any) admits this symbol."""
        return self.allowed_pairs is None or self.symbol in self.allowed_pairs


# A stop at price 0: none (MT5's convention). Only the app's Positions page asks for it, as a plain 0.
NO_STOP = Level(price=0.0)


def _plain(raw: Any) -> bool:
    return isinstance(raw, int | float) and not isinstance(raw, bool)


@dataclass(frozen=True, slots=True)
class ModifyInstruction:
    """A ``modify_position`` job's payload: new stops for one position or a symbol's side.

    ``ticket`` names one position (the app's Positions page); otherwise every position of the
    strategy on ``broker_symbol`` and ``side``. A stop in pips or percent is measured from the
    current market price (PineConnector's rule for newsltp); ``None`` keeps the position's own;
    :data:`NO_STOP` removes it.
    """

    broker_symbol: str | None
    side: str
    ticket: int | None
    sl: Level | None
    tp: Level | None
    strategy_id: str | None = None
    signal_id: str | None = None

    @staticmethod
    def from_payload(payload: dict[str, Any]) -> ModifyInstruction:
        """Validate a ``modify_position`` job payload."""
        side = payload.get("side") or "all"
        ticket = payload.get("ticket")
        symbol = payload.get("broker_symbol") or payload.get("symbol")
        if side not in ("long", "short", "all") or (ticket is None and not symbol):
            raise UserError(f"Invalid position change: {payload!r}", code="invalid_payload")
        # A plain number is a price (the app's Positions page writes them so); 0 removes the stop.
        sl, tp = (NO_STOP if _plain(raw) and raw == 0 else Level.parse({"price": raw} if _plain(raw) else raw)
                  for raw in (payload.get("sl"), payload.get("tp")))
        if sl is None and tp is None:
            raise UserError("The change names no new stop loss or take profit.", code="invalid_payload")
        return ModifyInstruction(str(symbol) if symbol else None, str(side),
                                 int(ticket) if ticket is not None else None, sl, tp, payload.get("strategy_id"),
                                 payload.get("signal_id"))
