"""What the trade server does between requests: SL/TP hits, pending orders, expiry, stop-out.

The feed is scanned tick by tick (one tick a second, plus the current moment) from the last
scan to now, event by event in time order, so a position opened by a pending order can hit its
own stop later in the same stretch. Stretches longer than a week (a simulator left off for a
long time) are scanned over their last week only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator import feed, orders
from tnm_desktop.terminal.simulator.model import OrderRec, PositionRec

if TYPE_CHECKING:
    from tnm_desktop.terminal.simulator.broker import Broker

MAX_SCAN_MS = 7 * 86_400_000

_Event = tuple[int, int, str, PositionRec | OrderRec, float]  # (index, priority, kind, item, price)


def _grid(start_ms: int, end_ms: int) -> npt.NDArray[np.int64]:
    start_ms = max(start_ms, end_ms - MAX_SCAN_MS)
    seconds = np.arange(start_ms // 1000 + 1, end_ms // 1000 + 1, dtype=np.int64) * 1000
    if len(seconds) == 0 or seconds[-1] != end_ms:
        seconds = np.append(seconds, np.int64(end_ms))
    return seconds[seconds > start_ms]


def _first(mask: npt.NDArray[np.bool_], begin: int) -> int | None:
    hits = np.flatnonzero(mask[begin:])
    return int(hits[0]) + begin if len(hits) else None


class _Tape:
    """Bid and ask of each symbol over the scanned ticks, computed once per symbol."""

    def __init__(self, broker: Broker, times: npt.NDArray[np.int64]) -> None:
        self.broker = broker
        self.times = times
        self._cache: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {}

    def prices(self, symbol: str) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        if symbol not in self._cache:
            if len(self.times) == 1:  # a call right after the last one: the quote the call itself uses
                bid_now, ask_now = self.broker.quote(symbol, int(self.times[0]))
                self._cache[symbol] = (np.array([bid_now]), np.array([ask_now]))
                return self._cache[symbol]
            spec = self.broker.spec(symbol)
            state = self.broker.state
            bid = feed.bids(spec, state.seed, state.shifts.get(symbol, []), self.times, state.holds.get(symbol, []))
            self._cache[symbol] = (bid, feed.asks(spec, bid))
        return self._cache[symbol]


def _hits(position: PositionRec, bid: Any, ask: Any) -> tuple[Any, Any]:
    # Where the position's stop and its target are reached (None: it has none), for the scan's
    # arrays and for one moment's floats alike: a buy closes at the bid, a sell at the ask.
    buy = position.type == mt5.POSITION_TYPE_BUY
    price = bid if buy else ask
    sl = (price <= position.sl if buy else price >= position.sl) if position.sl else None
    tp = (price >= position.tp if buy else price <= position.tp) if position.tp else None
    return sl, tp


def _reached(order_type: int, price: float, bid: Any, ask: Any) -> Any:
    # Where a pending order's price is reached, for arrays and floats alike.
    return {mt5.ORDER_TYPE_BUY_LIMIT: ask <= price, mt5.ORDER_TYPE_SELL_LIMIT: bid >= price,
            mt5.ORDER_TYPE_BUY_STOP: ask >= price, mt5.ORDER_TYPE_SELL_STOP: bid <= price,
            mt5.ORDER_TYPE_BUY_STOP_LIMIT: ask >= price, mt5.ORDER_TYPE_SELL_STOP_LIMIT: bid <= price}[order_type]


def _position_event(tape: _Tape, position: PositionRec, begin: int) -> _Event | None:
    if not position.sl and not position.tp:
        return None
    bid, ask = tape.prices(position.symbol)
    price = bid if position.type == mt5.POSITION_TYPE_BUY else ask
    sl_hits, tp_hits = _hits(position, bid, ask)
    found: list[_Event] = []
    if sl_hits is not None:
        at = _first(sl_hits, begin)
        if at is not None:
            found.append((at, 0, "sl", position, float(price[at])))
    if tp_hits is not None:
        at = _first(tp_hits, begin)
        if at is not None:
            found.append((at, 1, "tp", position, float(price[at])))
    return min(found, key=lambda e: (e[0], e[1])) if found else None


def _order_event(tape: _Tape, order: OrderRec, begin: int, offset_s: int) -> _Event | None:
    bid, ask = tape.prices(order.symbol)
    found: list[_Event] = []
    if order.time_expiration:
        expiry_ms = (order.time_expiration - offset_s) * 1000
        at = _first(tape.times >= expiry_ms, begin)
        if at is not None:
            found.append((at, 0, "expire", order, 0.0))
    at = _first(_reached(order.type, order.price_open, bid, ask), begin)
    if at is not None and order.type in orders.STOP_LIMITS:
        found.append((at, 1, "convert", order, order.price_stoplimit))
    elif at is not None:
        fill = orders.trigger_price(order.type, order.price_open, float(bid[at]), float(ask[at]))
        found.append((at, 1, "fill", order, order.price_open if fill is None else fill))
    return min(found, key=lambda e: (e[0], e[1])) if found else None


def _close_on_stop(broker: Broker, position: PositionRec, kind: str, price: float, at_ms: int) -> None:
    spec = broker.spec(position.symbol)
    level = position.sl if kind == "sl" else position.tp
    comment = f"[{kind} {level:.{spec.digits}f}]"
    order_reason = mt5.ORDER_REASON_SL if kind == "sl" else mt5.ORDER_REASON_TP
    deal_reason = mt5.DEAL_REASON_SL if kind == "sl" else mt5.DEAL_REASON_TP
    _close_by_server(broker, position, price, at_ms, comment, order_reason, deal_reason)


def _close_by_server(broker: Broker, position: PositionRec, price: float, at_ms: int, comment: str,
                     order_reason: int, deal_reason: int) -> None:
    # The server closes with its own order; MT5 then shows that order's comment on the position.
    position.comment = comment
    ticket = broker.state.take_order_ticket()
    closing_type = mt5.ORDER_TYPE_SELL if position.type == mt5.POSITION_TYPE_BUY else mt5.ORDER_TYPE_BUY
    broker.state.history_orders.append(OrderRec(
        ticket=ticket, symbol=position.symbol, type=closing_type, state=mt5.ORDER_STATE_FILLED,
        volume_initial=position.volume, volume_current=0.0, price_open=price, sl=0.0, tp=0.0,
        magic=position.magic, comment=comment, time_setup_msc=at_ms, time_done_msc=at_ms,
        position_id=position.ticket, reason=order_reason, price_current=price))
    broker.close_part(position, position.volume, price, order=ticket, comment=comment, magic=position.magic,
                      reason=deal_reason, at_ms=at_ms)


def _scan(broker: Broker, times: npt.NDArray[np.int64]) -> bool:
    tape = _Tape(broker, times)
    offset_s = broker.state.account.server_offset_s
    floor = 0
    fresh: dict[int, int] = {}  # positions opened (limits placed) during the scan: the first tick they can see
    changed = False
    while True:
        events = [e for p in broker.state.positions
                  if (e := _position_event(tape, p, max(floor, fresh.get(p.ticket, 0)))) is not None]
        events += [e for o in broker.state.orders
                   if (e := _order_event(tape, o, max(floor, fresh.get(o.ticket, 0)), offset_s)) is not None]
        if not events:
            return changed
        index, _, kind, item, price = min(events, key=lambda e: (e[0], e[1]))
        at_ms = int(times[index])
        if isinstance(item, PositionRec):
            _close_on_stop(broker, item, kind, price, at_ms)
        elif kind == "expire":
            orders.expire(broker, item, at_ms)
        elif kind == "convert":
            orders.convert(item)
            fresh[item.ticket] = index + 1
        else:
            orders.activate(broker, item, price, at_ms)
            fresh[item.ticket] = index + 1
        floor = index
        changed = True


def _stop_out(broker: Broker) -> bool:
    changed = False
    so_level = broker.state.account.margin_so_so
    while broker.state.positions:
        used = broker.used_margin()
        level = broker.equity() / used * 100 if used else float("inf")
        if level >= so_level:
            break
        worst = min(broker.state.positions, key=broker.floating)
        _close_by_server(broker, worst, broker.close_price(worst), broker.now_ms, f"[so {level:.2f}%]",
                         mt5.ORDER_REASON_SO, mt5.DEAL_REASON_SO)
        changed = True
    return changed


def _few_moments(start_ms: int, end_ms: int) -> list[int] | None:
    # _grid of a short stretch in Python integers (None when it has more than a few moments).
    first, last = start_ms // 1000 + 1, end_ms // 1000
    if last - first + 1 > feed.FEW - 1:
        return None
    moments = [second * 1000 for second in range(first, last + 1)]
    if not moments or moments[-1] != end_ms:
        moments.append(end_ms)
    return [m for m in moments if m > start_ms]


def _quiet(broker: Broker, moments: list[int]) -> bool:
    """Whether nothing happens at any of ``moments``: no stop, target, pending price or expiry is reached.

    The same prices and comparisons as the scan's, one moment at a time in Python floats: a scan
    follows every call the agent makes, and numpy's calls cost 30-130 µs each on a process that has
    sat idle. Anything reached goes to the scan, which plays it out.
    """
    offset_s = broker.state.account.server_offset_s
    for moment in moments:
        for position in broker.state.positions:
            if not position.sl and not position.tp:
                continue
            sl_hit, tp_hit = _hits(position, *broker.quote(position.symbol, moment))
            if sl_hit or tp_hit:
                return False
        for order in broker.state.orders:
            if order.time_expiration and moment >= (order.time_expiration - offset_s) * 1000:
                return False
            bid, ask = broker.quote(order.symbol, moment)
            if _reached(order.type, order.price_open, bid, ask):
                return False
    return True


def advance(broker: Broker) -> bool:
    """Play the market from the last scan up to the broker's moment; return whether the books changed."""
    state = broker.state
    changed = False
    if broker.now_ms > state.last_scan_ms:
        if state.positions or state.orders:
            moments = _few_moments(state.last_scan_ms, broker.now_ms)
            if moments is None or not _quiet(broker, moments):
                changed = _scan(broker, _grid(state.last_scan_ms, broker.now_ms))
        state.last_scan_ms = broker.now_ms
    return _stop_out(broker) or changed
