"""Finding an order by the token in its comment, across every place MT5 keeps orders.

History cannot be filtered by comment (nor magic), so the history is fetched over a wide
window in trade-server time — up to a day ahead of now, since that clock can be hours ahead of
UTC — and matched here. Positions and deals are tied to the token through the opening order
or deal, because MT5 overwrites a position's comment when the server closes it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tnm_desktop.terminal import convert
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.port import TokenMatches


def find_by_token(api: mt5.Mt5Api, get: Callable[[str, Callable[[], Any]], Any], token: str, *, now: datetime,
                  offset: timedelta, lookback: timedelta) -> TokenMatches:
    """Return everything carrying ``token`` (``get`` runs a call and raises the port's errors on failure)."""
    first = convert.server_seconds(now - lookback, offset)
    last = convert.server_seconds(now + timedelta(days=1), offset)
    pending = [o for o in get("read the pending orders", api.orders_get) if token in str(o.comment)]
    history = get("read the order history", lambda: api.history_orders_get(first, last))
    deals = get("read the deal history", lambda: api.history_deals_get(first, last))
    open_positions = get("read the positions", api.positions_get)
    tokened_orders = [o for o in history if token in str(o.comment)]
    ids = {int(o.position_id) for o in tokened_orders if int(o.position_id)}
    ids |= {int(d.position_id) for d in deals if token in str(d.comment) and int(d.position_id)}
    ids |= {int(p.identifier) for p in open_positions if token in str(p.comment)}
    return TokenMatches(
        token=token,
        pending_orders=tuple(convert.order(o, offset) for o in pending),
        positions=tuple(convert.position(p, offset) for p in open_positions if int(p.identifier) in ids),
        history_orders=tuple(convert.order(o, offset) for o in history
                             if token in str(o.comment) or int(o.position_id) in ids),
        deals=tuple(convert.deal(d, offset) for d in deals if token in str(d.comment) or int(d.position_id) in ids))
