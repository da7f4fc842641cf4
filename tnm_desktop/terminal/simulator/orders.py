"""Pending orders (place, modify, remove, activate, expire) and closing one position by another."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.model import OrderRec
from tnm_desktop.terminal.simulator.requests import frozen, is_buy, pending_price_ok, pending_stops_ok, volume_ok

if TYPE_CHECKING:
    from tnm_desktop.terminal.simulator.broker import Broker

# Each pending order type and the SYMBOL_ORDER_* flag a symbol must have for it.
PENDING_TYPES = {mt5.ORDER_TYPE_BUY_LIMIT: mt5.SYMBOL_ORDER_LIMIT, mt5.ORDER_TYPE_SELL_LIMIT: mt5.SYMBOL_ORDER_LIMIT,
                 mt5.ORDER_TYPE_BUY_STOP: mt5.SYMBOL_ORDER_STOP, mt5.ORDER_TYPE_SELL_STOP: mt5.SYMBOL_ORDER_STOP,
                 mt5.ORDER_TYPE_BUY_STOP_LIMIT: mt5.SYMBOL_ORDER_STOP_LIMIT,
                 mt5.ORDER_TYPE_SELL_STOP_LIMIT: mt5.SYMBOL_ORDER_STOP_LIMIT}
STOP_LIMITS = {mt5.ORDER_TYPE_BUY_STOP_LIMIT: mt5.ORDER_TYPE_BUY_LIMIT,
               mt5.ORDER_TYPE_SELL_STOP_LIMIT: mt5.ORDER_TYPE_SELL_LIMIT}
_DAY_S = 86_400


def _active(broker: Broker, ticket: int) -> OrderRec | None:
    return next((o for o in broker.state.orders if o.ticket == ticket), None)


def _expiry(broker: Broker, type_time: int, expiration: int) -> int | None:
    # The order's expiry in server seconds (0: none), or None when the request's is not valid.
    # A day order lives until the end of the trading day it was placed on (server time); a
    # "specified day" order until the end of that day.
    server_now = (broker.now_ms // 1000) + broker.state.account.server_offset_s
    if type_time == mt5.ORDER_TIME_GTC:
        return 0
    if type_time == mt5.ORDER_TIME_DAY:
        return server_now // _DAY_S * _DAY_S + _DAY_S - 1
    if type_time == mt5.ORDER_TIME_SPECIFIED:
        return expiration if expiration > server_now else None
    if type_time == mt5.ORDER_TIME_SPECIFIED_DAY:
        end = expiration // _DAY_S * _DAY_S + _DAY_S - 1
        return end if end > server_now else None
    return None


def place_pending(broker: Broker, request: mt5.TradeRequest) -> mt5.OrderSendResult:
    """Place a limit, stop or stop-limit order."""
    spec = broker.state.spec(request.symbol)
    if spec is None:
        return broker.result(mt5.TRADE_RETCODE_INVALID, request)
    if request.type not in PENDING_TYPES or not spec.order_mode & PENDING_TYPES[request.type]:
        return broker.result(mt5.TRADE_RETCODE_INVALID_ORDER, request)
    if spec.name in broker.state.closed_markets:
        return broker.result(mt5.TRADE_RETCODE_MARKET_CLOSED, request)
    if spec.trade_mode in (mt5.SYMBOL_TRADE_MODE_DISABLED, mt5.SYMBOL_TRADE_MODE_CLOSEONLY):
        return broker.result(mt5.TRADE_RETCODE_TRADE_DISABLED, request)
    if not volume_ok(spec, request.volume):
        return broker.result(mt5.TRADE_RETCODE_INVALID_VOLUME, request)
    bid, ask = broker.quote(spec.name)
    if not pending_price_ok(spec, request.type, request.price, bid, ask, request.stoplimit):
        return broker.result(mt5.TRADE_RETCODE_INVALID_PRICE, request)
    opens_at = request.stoplimit if request.type in STOP_LIMITS else request.price
    if not pending_stops_ok(spec, request.type, opens_at, request.sl, request.tp):
        return broker.result(mt5.TRADE_RETCODE_INVALID_STOPS, request)
    expiry = _expiry(broker, request.type_time, request.expiration)
    if expiry is None:
        return broker.result(mt5.TRADE_RETCODE_INVALID_EXPIRATION, request)
    ticket = broker.state.take_order_ticket()
    broker.state.orders.append(OrderRec(
        ticket=ticket, symbol=spec.name, type=request.type, state=mt5.ORDER_STATE_PLACED,
        volume_initial=request.volume, volume_current=request.volume, price_open=request.price, sl=request.sl,
        tp=request.tp, magic=request.magic, comment=request.comment, time_setup_msc=broker.now_ms,
        type_filling=request.type_filling, type_time=request.type_time, time_expiration=expiry,
        price_stoplimit=request.stoplimit if request.type in STOP_LIMITS else 0.0))
    return broker.result(mt5.TRADE_RETCODE_PLACED, request, order=ticket, volume=request.volume)


def _frozen(broker: Broker, order: OrderRec) -> bool:
    spec = broker.spec(order.symbol)
    bid, ask = broker.quote(spec.name)
    return frozen(spec, order.price_open, bid, ask, buy_side=is_buy(order.type))


def modify_pending(broker: Broker, request: mt5.TradeRequest) -> mt5.OrderSendResult:
    """Change a pending order's price, stops or expiry."""
    order = _active(broker, request.order)
    if order is None:
        return broker.result(mt5.TRADE_RETCODE_INVALID, request)
    spec = broker.spec(order.symbol)
    stoplimit = request.stoplimit if order.type in STOP_LIMITS else 0.0
    if (order.price_open, order.sl, order.tp, order.type_time, order.price_stoplimit) == (
            request.price, request.sl, request.tp, request.type_time, stoplimit) and (
            request.type_time not in (mt5.ORDER_TIME_SPECIFIED, mt5.ORDER_TIME_SPECIFIED_DAY)
            or _expiry(broker, request.type_time, request.expiration) == order.time_expiration):
        return broker.result(mt5.TRADE_RETCODE_NO_CHANGES, request)
    if _frozen(broker, order):
        return broker.result(mt5.TRADE_RETCODE_FROZEN, request)
    bid, ask = broker.quote(spec.name)
    if not pending_price_ok(spec, order.type, request.price, bid, ask, stoplimit):
        return broker.result(mt5.TRADE_RETCODE_INVALID_PRICE, request)
    if not pending_stops_ok(spec, order.type, stoplimit or request.price, request.sl, request.tp):
        return broker.result(mt5.TRADE_RETCODE_INVALID_STOPS, request)
    expiry = _expiry(broker, request.type_time, request.expiration)
    if expiry is None:
        return broker.result(mt5.TRADE_RETCODE_INVALID_EXPIRATION, request)
    order.price_open, order.sl, order.tp, order.price_stoplimit = request.price, request.sl, request.tp, stoplimit
    order.type_time, order.time_expiration = request.type_time, expiry
    return broker.result(mt5.TRADE_RETCODE_DONE, request, order=order.ticket)


def _retire(broker: Broker, order: OrderRec, state: int, at_ms: int) -> None:
    broker.state.orders.remove(order)
    order.state = state
    order.time_done_msc = at_ms
    broker.state.history_orders.append(order)


def remove_pending(broker: Broker, request: mt5.TradeRequest) -> mt5.OrderSendResult:
    """Cancel a pending order."""
    order = _active(broker, request.order)
    if order is None:
        return broker.result(mt5.TRADE_RETCODE_INVALID, request)
    if _frozen(broker, order):
        return broker.result(mt5.TRADE_RETCODE_FROZEN, request)
    _retire(broker, order, mt5.ORDER_STATE_CANCELED, broker.now_ms)
    return broker.result(mt5.TRADE_RETCODE_DONE, request, order=order.ticket)


def expire(broker: Broker, order: OrderRec, at_ms: int) -> None:
    """Move an order whose time ran out to the history."""
    _retire(broker, order, mt5.ORDER_STATE_EXPIRED, at_ms)


def convert(order: OrderRec) -> None:
    """A stop-limit order's stop was reached: it becomes the limit order at its stop-limit price."""
    order.type = STOP_LIMITS[order.type]
    order.price_open = order.price_stoplimit


def activate(broker: Broker, order: OrderRec, price: float, at_ms: int) -> None:
    """Fill a triggered pending order at ``price``: it becomes a position with its comment and magic."""
    spec = broker.spec(order.symbol)
    needed = broker.margin(spec, order.volume_current, price)
    if broker.equity() - broker.used_margin() - needed < 0:
        _retire(broker, order, mt5.ORDER_STATE_REJECTED, at_ms)
        return
    order.price_current = price
    order.position_id = order.ticket
    volume = order.volume_current
    order.volume_current = 0.0
    _retire(broker, order, mt5.ORDER_STATE_FILLED, at_ms)
    broker.open_position(spec, order.ticket, order.type, volume, price, sl=order.sl, tp=order.tp, magic=order.magic,
                         comment=order.comment, at_ms=at_ms)


def trigger_price(order_type: int, price: float, bid: float, ask: float) -> float | None:
    """Return the fill price if the market reached a pending order, else ``None``.

    Limits fill at their own price (or better); stops become market orders at the touching quote.
    """
    if order_type == mt5.ORDER_TYPE_BUY_LIMIT and ask <= price:
        return min(price, ask)
    if order_type == mt5.ORDER_TYPE_SELL_LIMIT and bid >= price:
        return max(price, bid)
    if order_type == mt5.ORDER_TYPE_BUY_STOP and ask >= price:
        return ask
    if order_type == mt5.ORDER_TYPE_SELL_STOP and bid <= price:
        return bid
    return None


def close_by(broker: Broker, request: mt5.TradeRequest) -> mt5.OrderSendResult:
    """Close a position by an opposite one on the same symbol; the common volume is closed on both."""
    first = broker.position(request.position)
    second = broker.position(request.position_by)
    if first is None or second is None or first.symbol != second.symbol or first.type == second.type:
        return broker.result(mt5.TRADE_RETCODE_INVALID, request)
    volume = min(first.volume, second.volume)
    price = second.price_open  # the whole result lands on the first position
    ticket = broker.state.take_order_ticket()
    broker.state.history_orders.append(OrderRec(
        ticket=ticket, symbol=first.symbol, type=mt5.ORDER_TYPE_CLOSE_BY, state=mt5.ORDER_STATE_FILLED,
        volume_initial=volume, volume_current=0.0, price_open=price, sl=0.0, tp=0.0, magic=request.magic,
        comment=request.comment, time_setup_msc=broker.now_ms, time_done_msc=broker.now_ms,
        position_id=first.ticket, position_by_id=second.ticket, price_current=price))
    deal = broker.close_part(first, volume, price, order=ticket, comment=request.comment, magic=request.magic,
                             reason=mt5.DEAL_REASON_EXPERT, entry=mt5.DEAL_ENTRY_OUT_BY)
    broker.close_part(second, volume, second.price_open, order=ticket, comment=request.comment,
                      magic=request.magic, reason=mt5.DEAL_REASON_EXPERT, entry=mt5.DEAL_ENTRY_OUT_BY)
    return broker.result(mt5.TRADE_RETCODE_DONE, request, deal=deal, order=ticket, volume=volume, price=price)

