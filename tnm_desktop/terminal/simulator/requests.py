"""Reading ``order_send``/``order_check`` requests and the broker's checks on them.

A malformed request never reaches the server: the package refuses it and the call returns
``None`` with ``(-2, 'Invalid "<field>" argument')``. A well-formed one gets the trade server's
checks here (volume, filling mode, stops level, prices), each ending in its retcode.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from datetime import datetime

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.catalog import SymbolSpec

COMMENT_LIMIT = 31  # MT5 keeps the first 31 characters of an order comment

_INTEGER = ("action", "magic", "order", "deviation", "type", "type_filling", "type_time", "position", "position_by")
_REAL = ("volume", "price", "stoplimit", "sl", "tp")
_EPSILON = 1e-9


class RequestError(Exception):
    """The package refused the request before sending it (``last_error`` code and message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral)


def parse_request(request: object) -> mt5.TradeRequest:
    """Return the request as a ``TradeRequest``, with the defaults MT5 fills in.

    Raises:
        RequestError: the request is not a mapping, has an unknown key or a value of the wrong type.
    """
    if not isinstance(request, Mapping):
        raise RequestError(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
    values: dict[str, object] = {}
    for key, value in request.items():
        if key in _INTEGER:
            ok = _is_int(value)
            value = int(value) if ok else value
        elif key in _REAL:
            ok = isinstance(value, numbers.Real)
            value = float(value) if ok else value
        elif key in ("symbol", "comment"):
            ok = isinstance(value, str)
        elif key == "expiration":
            ok = _is_int(value) or isinstance(value, datetime)
            value = int(value.timestamp()) if isinstance(value, datetime) else value
        else:
            raise RequestError(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")
        if not ok:
            raise RequestError(mt5.RES_E_INVALID_PARAMS, f'Invalid "{key}" argument')
        values[key] = value
    if "action" not in values:
        raise RequestError(mt5.RES_E_INVALID_PARAMS, 'Invalid "action" argument')
    comment = values.get("comment")
    if isinstance(comment, str):
        values["comment"] = comment[:COMMENT_LIMIT]
    return mt5.TradeRequest(**values)  # type: ignore[arg-type]


def volume_ok(spec: SymbolSpec, volume: float) -> bool:
    """Tell whether ``volume`` is within the symbol's limits and on its step."""
    if volume < spec.volume_min - _EPSILON or volume > spec.volume_max + _EPSILON:
        return False
    steps = volume / spec.volume_step
    return abs(steps - round(steps)) < 1e-6


def allowed_fillings(spec: SymbolSpec) -> frozenset[int]:
    """Return the ``ORDER_FILLING_*`` modes the broker accepts for market orders on ``spec``."""
    modes = set()
    if spec.filling_flags & mt5.SYMBOL_FILLING_FOK:
        modes.add(mt5.ORDER_FILLING_FOK)
    if spec.filling_flags & mt5.SYMBOL_FILLING_IOC:
        modes.add(mt5.ORDER_FILLING_IOC)
    if spec.exemode == mt5.SYMBOL_TRADE_EXECUTION_EXCHANGE or not modes:
        modes.add(mt5.ORDER_FILLING_RETURN)
    return frozenset(modes)


def on_tick(spec: SymbolSpec, price: float) -> bool:
    """Tell whether ``price`` is a whole number of ticks."""
    ticks = price / spec.tick_size
    return abs(ticks - round(ticks)) < 1e-6


def _points(spec: SymbolSpec, distance: float) -> float:
    return round(distance / spec.point, 6)


def _level_ok(spec: SymbolSpec, distance: float) -> bool:
    points = _points(spec, distance)
    return points > 0 and points >= spec.stops_level


def stops_ok(spec: SymbolSpec, position_type: int, bid: float, ask: float, sl: float, tp: float) -> bool:
    """Check SL/TP of a buy or sell position against the market and the stops level.

    A buy closes at the bid, so its stops are measured from the bid; a sell from the ask.
    """
    if (sl and not on_tick(spec, sl)) or (tp and not on_tick(spec, tp)):
        return False
    if position_type == mt5.POSITION_TYPE_BUY:
        return (not sl or _level_ok(spec, bid - sl)) and (not tp or _level_ok(spec, tp - bid))
    return (not sl or _level_ok(spec, sl - ask)) and (not tp or _level_ok(spec, ask - tp))


def is_buy(order_type: int) -> bool:
    """Tell whether an order type buys."""
    return order_type in (mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_BUY_LIMIT, mt5.ORDER_TYPE_BUY_STOP,
                          mt5.ORDER_TYPE_BUY_STOP_LIMIT)


def pending_price_ok(spec: SymbolSpec, order_type: int, price: float, bid: float, ask: float,
                     stoplimit: float = 0.0) -> bool:
    """Check a pending order's price: limits below/above the market, stops beyond it, by the stops level.

    A stop-limit order's ``price`` is its stop, checked as a stop's; its ``stoplimit`` (the limit
    order it places when the stop is reached) must lie on the near side of the stop: below it for
    a buy, above it for a sell.
    """
    if price <= 0 or not on_tick(spec, price):
        return False
    if order_type in (mt5.ORDER_TYPE_BUY_STOP_LIMIT, mt5.ORDER_TYPE_SELL_STOP_LIMIT):
        if stoplimit <= 0 or not on_tick(spec, stoplimit):
            return False
        if order_type == mt5.ORDER_TYPE_BUY_STOP_LIMIT:
            return _level_ok(spec, price - ask) and stoplimit <= price
        return _level_ok(spec, bid - price) and stoplimit >= price
    if order_type == mt5.ORDER_TYPE_BUY_LIMIT:
        return _level_ok(spec, ask - price)
    if order_type == mt5.ORDER_TYPE_SELL_LIMIT:
        return _level_ok(spec, price - bid)
    if order_type == mt5.ORDER_TYPE_BUY_STOP:
        return _level_ok(spec, price - ask)
    return _level_ok(spec, bid - price)  # sell stop


def frozen(spec: SymbolSpec, level: float, bid: float, ask: float, *, buy_side: bool) -> bool:
    """Tell whether a price level sits within the freeze level of the market (10029 if it is changed).

    Buy orders and a sell position's stops are measured from the ask; the others from the bid.
    """
    if not spec.freeze_level or not level:
        return False
    market = ask if buy_side else bid
    return round(abs(market - level) / spec.point, 6) <= spec.freeze_level


def pending_stops_ok(spec: SymbolSpec, order_type: int, price: float, sl: float, tp: float) -> bool:
    """Check a pending order's SL/TP against the price it will open at (a stop-limit's: its limit)."""
    if (sl and not on_tick(spec, sl)) or (tp and not on_tick(spec, tp)):
        return False
    if is_buy(order_type):
        return (not sl or _level_ok(spec, price - sl)) and (not tp or _level_ok(spec, tp - price))
    return (not sl or _level_ok(spec, sl - price)) and (not tp or _level_ok(spec, price - tp))
