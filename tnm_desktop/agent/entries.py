"""Prices and checks of an entry, from the alert and the market at the moment it is sent.

Pure functions: the executor (:mod:`tnm_desktop.agent.trading`) reads the market, these decide.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tnm_desktop.agent.sizing import Contract
from tnm_desktop.domain.orders import Filters, Level, PendingEntry, TradingWindow
from tnm_desktop.errors import UserError
from tnm_desktop.terminal.port import AccountSnapshot, PendingKind, Quote, Side

_KIND_WORDS = {("buy", "limit"): "buy limit", ("sell", "limit"): "sell limit", ("buy", "stop"): "buy stop",
               ("sell", "stop"): "sell stop", ("buy", "stop_limit"): "buy stop-limit",
               ("sell", "stop_limit"): "sell stop-limit"}


def on_grid(contract: Contract, price: float) -> float:
    """``price`` rounded to the symbol's tick size (and digits)."""
    tick = contract.tick_size or contract.point
    return round(round(price / tick) * tick, contract.digits)


def stop_price(contract: Contract, side: Side, entry: float, level: Level | None, *, loss: bool) -> float | None:
    """A stop loss (``loss``) or take profit as a price, for an order of ``side`` opening at ``entry``."""
    if level is None:
        return None
    below = (side is Side.BUY) == loss
    if level.price is not None:
        if (below and level.price >= entry) or (not below and level.price <= entry):
            kind = "stop loss" if loss else "take profit"
            where = "below" if below else "above"
            raise UserError(f"The {kind} {level.price:g} must be {where} the {side.value} price {entry:g}.",
                            code="invalid_stops")
        return level.price
    distance = level.distance(entry, contract.pip) or 0.0
    return on_grid(contract, entry - distance if below else entry + distance)


def pending_prices(contract: Contract, side: Side, order: PendingEntry, quote: Quote) -> tuple[float, float | None]:
    """Where a pending order waits (and a stop-limit's limit price), from the market now.

    A distance in pips or percent is measured from the price the order would fill at now (the
    ask for a buy, the bid for a sell): below it for a buy limit, above it for a buy stop, and
    the other way round for a sell. A stop-limit's limit is measured the same way as its stop.
    """
    market = quote.ask if side is Side.BUY else quote.bid
    up = (side is Side.BUY) != (order.kind == "limit")

    def place(level: Level) -> float:
        if level.price is not None:
            return level.price
        distance = level.distance(market, contract.pip) or 0.0
        return on_grid(contract, market + distance if up else market - distance)

    price = place(order.entry)
    stoplimit = place(order.stoplimit) if order.stoplimit is not None else None
    return price, stoplimit


def pending_kind(order: PendingEntry) -> PendingKind:
    """The port's kind of a pending entry."""
    return PendingKind(order.kind)


def describe_pending(side: Side, order: PendingEntry, price: float, stoplimit: float | None,
                     expires_at: datetime | None) -> str:
    """The pending order as the signal log says it: "Buy limit placed at 1.0835, expires 14:30 UTC"."""
    words = _KIND_WORDS[(side.value, order.kind)]
    text = f"{words[0].upper()}{words[1:]} placed at {price:g}"
    if stoplimit is not None:
        text += f" (limit {stoplimit:g})"
    if expires_at is not None:
        text += f", expires {expires_at:%Y-%m-%d %H:%M} UTC"
    return text + "."


def expiry(order: PendingEntry, now: datetime | None = None) -> datetime | None:
    """When a pending order expires (aware UTC), from its minutes."""
    if order.expiry_minutes is None:
        return None
    return (now or datetime.now(UTC)) + timedelta(minutes=order.expiry_minutes)


def check_window(window: TradingWindow | None, now: datetime | None = None) -> None:
    """Refuse an entry outside the strategy's trading window."""
    if window is not None and not window.is_open(now or datetime.now(UTC)):
        raise UserError(f"Outside the strategy's trading window ({window.describe()}): nothing was opened.",
                        code="outside_window")


def check_filters(filters: Filters | None, contract: Contract, quote: Quote, account: AccountSnapshot | None) -> None:
    """Refuse an entry whose spread or account does not pass the alert's filters."""
    if filters is None:
        return
    if filters.max_spread_points is not None:
        spread = round((quote.ask - quote.bid) / contract.point)
        if spread > filters.max_spread_points:
            raise UserError(f"The spread is {spread} points; this alert allows at most "
                            f"{filters.max_spread_points:g}. Nothing was opened.", code="spread_too_wide")
    if filters.account_above is not None and account is not None:
        if filters.account_basis == "margin_level" and account.margin <= 0:
            return  # no position open: PineConnector processes the signal
        value = {"balance": account.balance, "equity": account.equity, "free_margin": account.free_margin,
                 "margin_level": account.margin_level}[filters.account_basis]
        if value <= filters.account_above:
            name = {"balance": "The balance", "equity": "Equity", "free_margin": "Free margin",
                    "margin_level": "The margin level"}[filters.account_basis]
            unit = " %" if filters.account_basis == "margin_level" else f" {account.currency}"
            raise UserError(f"{name} is {value:,.2f}{unit}; this alert needs more than {filters.account_above:,.2f}"
                            f"{unit}. Nothing was opened.", code="account_filter")
