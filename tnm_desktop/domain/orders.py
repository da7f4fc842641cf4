"""What an alert asks beyond "buy now": pending entries, managed stops, targets, filters, windows.

These are parts of a ``trade`` job's payload (:mod:`tnm_desktop.domain.trade`), written by
ingestion (``tnm_privileged.ingest_tv_signal``) and read by the agent. Distances are in pips
(the symbol's own pip, :attr:`tnm_desktop.agent.sizing.Contract.pip`) unless a field says
otherwise; a level is a price, pips from a reference, or a percent of the price.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tnm_desktop.errors import UserError

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _bad(what: str, raw: Any) -> UserError:
    return UserError(f"Invalid {what}: {raw!r}", code="invalid_payload")


def _number(raw: dict[str, Any], key: str, *, minimum: float = 0.0, required: bool = False) -> float | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise _bad(key, raw)
        return None
    number = float(value)
    if number < minimum:
        raise _bad(key, raw)
    return number


@dataclass(frozen=True, slots=True)
class Level:
    """A stop-loss, take-profit or entry: a distance in pips, an absolute price, or a percent of the price."""

    pips: float | None = None
    price: float | None = None
    percent: float | None = None

    @staticmethod
    def parse(raw: Any) -> Level | None:
        """Read ``{"pips": n}`` / ``{"price": p}`` / ``{"percent": x}`` / null."""
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise UserError(f"Invalid stop level: {raw!r}", code="invalid_payload")
        given = {k: float(v) for k in ("pips", "price", "percent") if (v := raw.get(k)) is not None}
        if len(given) != 1:
            raise UserError("A level needs one of pips, a price or a percent.", code="invalid_payload")
        if next(iter(given.values())) <= 0:
            raise UserError("A stop level must be positive.", code="invalid_payload")
        return Level(**given)

    def distance(self, reference: float, pip: float) -> float | None:
        """The price distance this level means from ``reference`` (``None`` for an absolute price)."""
        if self.pips is not None:
            return self.pips * pip
        if self.percent is not None:
            return reference * self.percent / 100
        return None

    def describe(self) -> str:
        """The level as a trader wrote it."""
        if self.price is not None:
            return f"{self.price:g}"
        if self.pips is not None:
            return f"{self.pips:g} pips"
        return f"{self.percent:g} %"


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """A pending order: where it waits (from the market price), and for how long.

    ``kind``: "limit", "stop" or "stop_limit"; ``stoplimit``: a stop-limit's limit price.
    """

    kind: str
    entry: Level
    stoplimit: Level | None = None
    expiry_minutes: float | None = None

    @staticmethod
    def parse(raw: Any) -> PendingEntry | None:
        """Read the ``order`` object (null: a market order)."""
        if raw is None:
            return None
        if not isinstance(raw, dict) or raw.get("kind") not in ("limit", "stop", "stop_limit"):
            raise _bad("pending order", raw)
        entry = Level.parse(raw.get("entry"))
        if entry is None:
            raise _bad("pending order entry", raw)
        stoplimit = Level.parse(raw.get("stoplimit"))
        if (raw["kind"] == "stop_limit") != (stoplimit is not None):
            raise _bad("stop-limit price", raw)
        return PendingEntry(str(raw["kind"]), entry, stoplimit, _number(raw, "expiry_minutes"))


@dataclass(frozen=True, slots=True)
class Breakeven:
    """Move the stop to the entry plus ``offset_pips`` once the price is ``trigger_pips`` in profit."""

    trigger_pips: float
    offset_pips: float = 0.0


@dataclass(frozen=True, slots=True)
class Trailing:
    """Trail the stop ``distance_pips`` behind the best price once ``trigger_pips`` in profit.

    The stop moves only when it can move at least ``step_pips`` (0: by any whole point).
    """

    trigger_pips: float
    distance_pips: float
    step_pips: float = 0.0


@dataclass(frozen=True, slots=True)
class Target:
    """A take-profit target and the percent of the opening volume closed there."""

    tp: Level
    close_pct: float


@dataclass(frozen=True, slots=True)
class Manage:
    """What the agent manages on a position after it opens."""

    breakeven: Breakeven | None = None
    trailing: Trailing | None = None
    targets: tuple[Target, ...] = ()
    be_after_tp1: bool = False

    @staticmethod
    def parse(raw: Any) -> Manage | None:
        """Read the ``manage`` object (null: nothing to manage)."""
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise _bad("position management", raw)
        be = raw.get("breakeven")
        trail = raw.get("trailing")
        targets = raw.get("targets") or []
        if not isinstance(targets, list) or len(targets) > 3:
            raise _bad("take-profit targets", raw)
        parsed = []
        for item in targets:
            level = Level.parse(item.get("tp")) if isinstance(item, dict) else None
            share = _number(item, "close_pct", required=True) if isinstance(item, dict) else None
            if level is None or share is None or not 0 < share <= 100:
                raise _bad("take-profit target", item)
            parsed.append(Target(level, share))
        return Manage(
            breakeven=Breakeven(_number(be, "trigger_pips", required=True) or 0.0,
                                _number(be, "offset_pips") or 0.0) if isinstance(be, dict) else None,
            trailing=Trailing(_number(trail, "trigger_pips", required=True) or 0.0,
                              _number(trail, "distance_pips", required=True) or 0.0,
                              _number(trail, "step_pips") or 0.0) if isinstance(trail, dict) else None,
            targets=tuple(parsed), be_after_tp1=bool(raw.get("be_after_tp1")))

    def to_json(self) -> dict[str, Any]:
        """The ``manage`` object as ingestion writes it."""
        be, trail = self.breakeven, self.trailing
        return {
            "breakeven": None if be is None else {"trigger_pips": be.trigger_pips, "offset_pips": be.offset_pips},
            "trailing": None if trail is None else {"trigger_pips": trail.trigger_pips,
                                                    "distance_pips": trail.distance_pips, "step_pips": trail.step_pips},
            "targets": [{"tp": {k: v for k, v in (("pips", t.tp.pips), ("price", t.tp.price),
                                                  ("percent", t.tp.percent)) if v is not None},
                         "close_pct": t.close_pct} for t in self.targets],
            "be_after_tp1": self.be_after_tp1}


@dataclass(frozen=True, slots=True)
class Filters:
    """Conditions an entry must meet when it is sent.

    ``max_spread_points``: the spread must be at most this; ``account_basis``/``account_above``:
    the account's balance, equity, free margin or margin level (percent) must be above this.
    """

    max_spread_points: float | None = None
    account_basis: str = "balance"
    account_above: float | None = None

    @staticmethod
    def parse(raw: Any) -> Filters | None:
        """Read the ``filters`` object."""
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise _bad("filters", raw)
        account = raw.get("account")
        if account is not None and (not isinstance(account, dict) or account.get("basis") not in (
                "balance", "equity", "free_margin", "margin_level")):
            raise _bad("account filter", raw)
        return Filters(_number(raw, "max_spread_points"), str(account["basis"]) if account else "balance",
                       _number(account, "above") if account else None)


@dataclass(frozen=True, slots=True)
class TradingWindow:
    """When a strategy may enter trades: ISO weekdays (1 Monday) and hours in a time zone.

    An end before the start spans midnight: the hours after midnight belong to the day before.
    """

    days: tuple[int, ...]
    start: time
    end: time
    time_zone: str

    @staticmethod
    def parse(raw: Any) -> TradingWindow | None:
        """Read ``{"days": [...], "start": "HH:MM", "end": "HH:MM", "time_zone": "..."}`` (null: always)."""
        if raw is None:
            return None
        try:
            window = TradingWindow(tuple(sorted({int(d) for d in raw["days"]})), time.fromisoformat(raw["start"]),
                                   time.fromisoformat(raw["end"]), str(raw["time_zone"]))
            ZoneInfo(window.time_zone)
        except (KeyError, TypeError, ValueError, ZoneInfoNotFoundError) as exc:
            raise _bad("trading window", raw) from exc
        if not window.days or not all(1 <= d <= 7 for d in window.days) or window.start == window.end:
            raise _bad("trading window", raw)
        return window

    def is_open(self, at: datetime) -> bool:
        """Whether ``at`` (aware) is inside the window."""
        local = at.astimezone(ZoneInfo(self.time_zone))
        now = local.time().replace(tzinfo=None)
        day = local.isoweekday()
        if self.start < self.end:
            return day in self.days and self.start <= now < self.end
        if now >= self.start:
            return day in self.days
        return now < self.end and (day - 2) % 7 + 1 in self.days

    def describe(self) -> str:
        """The window as the signal log names it: "Mon Tue 08:00–17:00 Europe/London"."""
        days = " ".join(_DAYS[d - 1] for d in self.days)
        return f"{days} {self.start:%H:%M}–{self.end:%H:%M} {self.time_zone}"

    def to_json(self) -> dict[str, Any]:
        """The window as stored (``tv_strategies.trading_window``)."""
        return {"days": list(self.days), "start": f"{self.start:%H:%M}", "end": f"{self.end:%H:%M}",
                "time_zone": self.time_zone}


@dataclass(frozen=True, slots=True)
class Cancel:
    """Which pending orders a cancel alert deletes: by side, or those of one earlier job."""

    side: str = "all"
    job_id: str | None = None

    @staticmethod
    def parse(raw: Any) -> Cancel:
        """Read the ``cancel`` object."""
        if not isinstance(raw, dict) or raw.get("side", "all") not in ("long", "short", "all"):
            raise _bad("cancel instruction", raw)
        job = raw.get("job_id")
        return Cancel(str(raw.get("side") or "all"), str(job) if job else None)


_COMMANDS = {
    "buy": "Market buy", "sell": "Market sell", "buylimit": "Buy limit", "selllimit": "Sell limit",
    "buystop": "Buy stop", "sellstop": "Sell stop", "buystoplimit": "Buy stop-limit",
    "sellstoplimit": "Sell stop-limit",
    "closelongsell": "Close longs, then sell", "closeshortbuy": "Close shorts, then buy",
    "closelongbuy": "Close longs, then buy", "closeshortsell": "Close shorts, then sell",
    "close": "Close", "cancel": "Cancel pending orders", "modify": "New stops",
}


def order_kind(payload: dict[str, Any], *, managed: bool = True) -> str:
    """What a job's order is, in a trader's words: "Buy limit", "Close longs, then sell", "New stops"…

    With ``managed``, what the agent manages on it is named too ("… with breakeven, trailing stop").
    """
    command = str(payload.get("command") or payload.get("action") or "")
    if not command and "ticket" in payload:
        command = "modify"
    text = _COMMANDS.get(command, command.capitalize() or "Order")
    extras = []
    manage = payload.get("manage") if managed else None
    if isinstance(manage, dict):
        if manage.get("breakeven"):
            extras.append("breakeven")
        if manage.get("trailing"):
            extras.append("trailing stop")
        if manage.get("targets"):
            extras.append(f"{len(manage['targets'])} targets")
    return text + (f" with {', '.join(extras)}" if extras else "")
