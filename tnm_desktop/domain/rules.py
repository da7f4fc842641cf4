"""Breakeven, trailing stops and take-profit targets: what to change on a position at a price.

Pure rules over a :class:`PositionRule` (a ``position_rules`` row) and the market now; the agent
(:mod:`tnm_desktop.agent.stops`) sends what :func:`next_change` returns and records it.

For a buy the price that counts is the bid (what it closes at), for a sell the ask; "profit" is
the distance from the entry in the position's favour, in pips.

* Breakeven: at ``trigger_pips`` of profit the stop goes to the entry plus ``offset_pips``.
* Trailing: from ``trigger_pips`` of profit on, the stop follows the best price at
  ``distance_pips``; it moves only when it can move by at least ``step_pips`` since the stop the
  trailing last set (by any whole point when the step is 0).
* Targets: at each target but the last that closes the position (that one is the broker's take
  profit), ``close_pct`` percent of the opening volume is closed; ``be_after_tp1`` then moves the
  stop to breakeven.
* A stop never moves backwards (away from the price), nor inside the broker's stops level, nor
  while the current stop is frozen (inside the freeze level): those wait for a later price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tnm_desktop.domain import convert as c
from tnm_desktop.domain.orders import Level, Manage

_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class PositionRule:
    """A position (or pending order, while ``state`` is "waiting") the agent manages."""

    id: str
    job_id: str
    signal_id: str | None
    symbol: str
    side: str  # "buy" | "sell"
    ticket: int
    volume: float | None
    entry_price: float | None
    manage: Manage
    state: str  # "waiting" | "active" | "done"
    stop: float | None
    trail_stop: float | None
    be_done: bool
    targets_done: int
    changes: int
    pending: dict[str, Any] | None
    last_error: str | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: c.Row) -> PositionRule:
        """Build from a ``position_rules`` row."""
        manage = Manage.parse(c.json_value(row.get("manage"))) or Manage()
        pending = c.json_value(row.get("pending"))
        return cls(
            id=c.text(row["id"]), job_id=c.text(row["job_id"]), signal_id=c.opt_text(row.get("signal_id")),
            symbol=c.text(row["symbol"]), side=c.text(row["side"]), ticket=int(row["ticket"]),
            volume=c.opt_number(row.get("volume")), entry_price=c.opt_number(row.get("entry_price")),
            manage=manage, state=c.text(row["state"]), stop=c.opt_number(row.get("stop")),
            trail_stop=c.opt_number(row.get("trail_stop")), be_done=bool(row.get("be_done")),
            targets_done=int(row.get("targets_done") or 0), changes=int(row.get("changes") or 0),
            pending=pending if isinstance(pending, dict) else None, last_error=c.opt_text(row.get("last_error")),
            updated_at=c.opt_moment(row.get("updated_at")))

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the direction profit lies in."""
        return 1 if self.side == "buy" else -1


@dataclass(frozen=True, slots=True)
class Market:
    """What the rules need of the symbol and its price now."""

    bid: float
    ask: float
    pip: float
    point: float
    digits: int
    stops_level: int = 0
    freeze_level: int = 0


@dataclass(frozen=True, slots=True)
class Change:
    """One change to send.

    ``kind``: "breakeven" or "trailing" (a new stop ``sl``), or "target" (close ``volume`` lots at
    target number ``target``). ``breakeven``: the new stop also fulfils the breakeven rule.
    """

    kind: str
    price: float  # the price that decided it
    sl: float | None = None
    volume: float | None = None
    target: int | None = None
    breakeven: bool = False

    def to_json(self, seq: int, token: str, tp: float | None) -> dict[str, Any]:
        """The ``pending`` record written before the change is sent."""
        return {"seq": seq, "kind": self.kind, "sl": self.sl, "tp": tp, "volume": self.volume, "target": self.target,
                "price": self.price, "token": token, "breakeven": self.breakeven}


def level_price(level: Level, reference: float, sign: int, pip: float, digits: int) -> float:
    """A target or stop ``level`` as a price: a price as it is, else that far from ``reference`` towards ``sign``."""
    if level.price is not None:
        return level.price
    distance = level.distance(reference, pip) or 0.0
    return round(reference + sign * distance, digits)


def target_prices(rule: PositionRule, market: Market) -> list[float]:
    """Each target's price, from the entry."""
    if rule.entry_price is None:
        return []
    return [level_price(t.tp, rule.entry_price, rule.sign, market.pip, market.digits) for t in rule.manage.targets]


def closes_at_broker(rule: PositionRule) -> bool:
    """Whether the last target closes what is left (it is then the position's take profit at the broker)."""
    targets = rule.manage.targets
    return bool(targets) and sum(t.close_pct for t in targets) >= 100 - _EPSILON


def next_change(rule: PositionRule, sl: float | None, market: Market) -> Change | None:
    """What to change on an active position whose stop is ``sl`` now, or ``None``."""
    if rule.state != "active" or rule.entry_price is None:
        return None
    sign = rule.sign
    price = market.bid if sign > 0 else market.ask
    target = _target_change(rule, market, price)
    if target is not None:
        return target
    return _stop_change(rule, sl, market, price)


def _target_change(rule: PositionRule, market: Market, price: float) -> Change | None:
    targets = rule.manage.targets
    last_here = len(targets) - (1 if closes_at_broker(rule) else 0)
    if rule.targets_done >= last_here:
        return None
    number = rule.targets_done + 1
    at = target_prices(rule, market)[number - 1]
    if rule.sign * (price - at) < -_EPSILON:
        return None
    share = targets[number - 1].close_pct / 100
    return Change("target", price, volume=(rule.volume or 0.0) * share, target=number)


def _stop_change(rule: PositionRule, sl: float | None, market: Market, price: float) -> Change | None:
    sign = rule.sign
    entry = rule.entry_price or 0.0
    pip = market.pip
    profit = sign * (price - entry) / pip
    manage = rule.manage
    candidates: list[tuple[float, str]] = []
    be_level: float | None = None
    be = manage.breakeven
    if not rule.be_done and (
            (be is not None and profit >= be.trigger_pips - _EPSILON)
            or (manage.be_after_tp1 and rule.targets_done >= 1)):
        be_level = round(entry + sign * (be.offset_pips if be else 0.0) * pip, market.digits)
        candidates.append((be_level, "breakeven"))
    trail = manage.trailing
    if trail is not None and profit >= trail.trigger_pips - _EPSILON:
        level = round(price - sign * trail.distance_pips * pip, market.digits)
        step = max(trail.step_pips * pip, market.point)
        if rule.trail_stop is None or sign * (level - rule.trail_stop) >= step - _EPSILON:
            candidates.append((level, "trailing"))
    if not candidates:
        return None
    level, kind = max(candidates, key=lambda c: sign * c[0])
    if sl is not None and sign * (level - sl) < market.point - _EPSILON:
        return None  # never backwards, nor a change smaller than a point
    if sign * (price - level) < max(market.stops_level, 1) * market.point - _EPSILON:
        return None  # too close to the price for the broker: wait for the price to move on
    if sl is not None and market.freeze_level and sign * (price - sl) <= market.freeze_level * market.point + _EPSILON:
        return None  # the current stop is frozen: the broker refuses any change now
    breakeven = be_level is not None and sign * (level - be_level) >= -_EPSILON
    return Change(kind, price, sl=level, breakeven=breakeven)


@dataclass(frozen=True, slots=True)
class RuleEvent:
    """A change a position rule made, or could not make (``position_rule_events``)."""

    rule_id: str
    seq: int
    at: datetime
    kind: str  # breakeven | trailing | target | take_profit | refused | ended
    sl: float | None
    tp: float | None
    volume: float | None
    price: float | None
    note: str

    @classmethod
    def from_row(cls, row: c.Row) -> RuleEvent:
        """Build from a ``position_rule_events`` row."""
        return cls(rule_id=c.text(row["rule_id"]), seq=int(row["seq"]), at=c.moment(row["at"]),
                   kind=c.text(row["kind"]), sl=c.opt_number(row.get("sl")), tp=c.opt_number(row.get("tp")),
                   volume=c.opt_number(row.get("volume")), price=c.opt_number(row.get("price")),
                   note=str(row.get("note") or ""))

    def describe(self) -> str:
        """The event in a trader's words."""
        if self.kind == "breakeven":
            return f"Stop moved to breakeven at {self.sl:g}" + (f" (price {self.price:g})" if self.price else "")
        if self.kind == "trailing":
            return f"Trailing stop moved to {self.sl:g}" + (f" (price {self.price:g})" if self.price else "")
        if self.kind == "target":
            return f"Target reached: closed {self.volume:g} lots" + (f" at {self.price:g}" if self.price else "")
        if self.kind == "refused":
            return f"A change was refused: {self.note}"
        if self.kind == "ended":
            return f"No longer managed: {self.note}"
        return self.note or self.kind
