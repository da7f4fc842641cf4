"""Stop-loss and take-profit prices of a new position, never closer than the broker allows.

MT5 refuses a stop closer to the market than the symbol's stops level (``trade_stops_level``
points), measured from the price the position would close at: a buy's stops from the bid, a
sell's from the ask ("Invalid stops", retcode 10016). So, before an order is sent:

* a stop given in pips or percent (or the trader's default stop) that is too close is widened to
  the minimum, plus a margin for the price moving before the order arrives, and the result says so;
* a stop given as a price that is too close, or on the wrong side of the price, is refused with
  the distance the broker needs.

A pending order's stops are measured from its own price (where the position will open), as the
broker measures them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tnm_desktop.agent.sizing import Contract
from tnm_desktop.domain.trade import Level
from tnm_desktop.errors import UserError
from tnm_desktop.terminal.port import Quote, Side


@dataclass(frozen=True, slots=True)
class Stops:
    """The prices to send (None: no stop) and what was changed on the way."""

    sl: float | None
    tp: float | None
    notes: tuple[str, ...] = ()


def margin_points(stops_level: int) -> int:
    """Extra points beyond the stops level, for the price moving between the quote and the fill."""
    return max(2, math.ceil(stops_level / 10))


def _fmt(contract: Contract, price: float) -> str:
    return f"{price:.{contract.digits}f}"


def _closing(side: Side, quote: Quote, entry: float | None) -> float:
    # Where a stop is measured from: a pending order's price, else the price the position would
    # close at now (the bid for a buy, the ask for a sell).
    if entry is not None:
        return entry
    return quote.bid if side is Side.BUY else quote.ask


def _gap(side: Side, price: float, close: float, *, loss: bool) -> float:
    # Distance from ``close`` to the stop, positive on the right side.
    below = (side is Side.BUY) == loss
    return close - price if below else price - close


def _level_price(contract: Contract, side: Side, close: float, gap_points: float, *, loss: bool) -> float:
    # The price ``gap_points`` points from ``close``, rounded away from it onto the price grid.
    below = (side is Side.BUY) == loss
    steps = close / contract.point + (-gap_points if below else gap_points)
    return round((math.floor(steps + 1e-6) if below else math.ceil(steps - 1e-6)) * contract.point, contract.digits)


def _one(contract: Contract, side: Side, quote: Quote, level: Level | None, *, loss: bool,
         pending_at: float | None) -> tuple[float | None, str]:
    if level is None:
        return None, ""
    kind = "stop loss" if loss else "take profit"
    entry = pending_at if pending_at is not None else (quote.ask if side is Side.BUY else quote.bid)
    close = _closing(side, quote, pending_at)
    minimum = contract.stops_level * contract.point
    if level.price is not None:
        gap = _gap(side, level.price, close, loss=loss)
        if gap <= 0:
            where = "below" if (side is Side.BUY) == loss else "above"
            raise UserError(f"The {kind} {level.price:g} must be {where} the {side.value} price "
                            f"{_fmt(contract, entry)}.", code="invalid_stops")
        if gap + 1e-9 < minimum:
            raise UserError(
                f"The {kind} {level.price:g} is {gap:.{contract.digits}f} from the market; {contract.name} needs at "
                f"least {minimum:.{contract.digits}f} ({contract.stops_level} points, the broker's stops level). "
                "Set it further away, or give it in pips: a distance in pips is widened to the minimum.",
                code="invalid_stops")
        return level.price, ""
    distance = level.distance(entry, contract.pip) or 0.0
    below = (side is Side.BUY) == loss
    wanted = round(entry - distance if below else entry + distance, contract.digits)
    needed = contract.stops_level + margin_points(contract.stops_level)
    if _gap(side, wanted, close, loss=loss) / contract.point + 1e-6 >= needed:
        return wanted, ""
    widened = _level_price(contract, side, close, needed, loss=loss)
    note = (f"The {kind} was widened from {level.describe()} ({distance:.{contract.digits}f}) to "
            f"{abs(widened - entry):.{contract.digits}f} from the price: {contract.name} needs at least "
            f"{minimum:.{contract.digits}f} from the market ({contract.stops_level} points, the broker's stops level).")
    return widened, note


def place_stops(contract: Contract, side: Side, quote: Quote, sl: Level | None, tp: Level | None, *,
                entry: float | None = None) -> Stops:
    """The SL and TP prices of a new ``side`` position at ``quote`` (or of a pending order at ``entry``).

    Raises:
        UserError: (invalid_stops) a stop given as a price on the wrong side or too close.
    """
    sl_price, sl_note = _one(contract, side, quote, sl, loss=True, pending_at=entry)
    tp_price, tp_note = _one(contract, side, quote, tp, loss=False, pending_at=entry)
    return Stops(sl_price, tp_price, tuple(n for n in (sl_note, tp_note) if n))
