"""Build the simulator's records from stored data, checking every field's type on the way in.

A state file is data from disk: a hand edit or a broken copy can put text where a balance
belongs, and a simulator that took it would serve broken answers later, far from the cause.
Every record is checked against its dataclass's annotations here, and a bad one is reported
by where it sits (``positions[3].volume``) so the message can say what is wrong.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import MISSING, fields
from functools import cache
from typing import Any, TypeVar

from tnm_desktop.terminal.simulator.catalog import AccountSpec, SymbolSpec
from tnm_desktop.terminal.simulator.model import (
    STATE_VERSION,
    ClockRec,
    DealRec,
    FaultRec,
    OrderRec,
    PositionRec,
    SimState,
    TerminalRec,
)

R = TypeVar("R")


class BadState(ValueError):
    """Stored data that is not a valid simulator state; the message says where and what."""


_WORDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false", type(None): "empty"}


def _what(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "empty"
    if isinstance(value, dict):
        return "a record"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


@cache
def _kinds(cls: type[Any]) -> tuple[tuple[str, tuple[type, ...], bool], ...]:
    # (field, the scalar types it takes, whether it may be left out) for one record class.
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        hint = hints[f.name]
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        assert all(o in _WORDS for o in options), f"{cls.__name__}.{f.name}: not a scalar field"
        optional = f.default is not MISSING or f.default_factory is not MISSING
        out.append((f.name, tuple(options), optional))
    return tuple(out)


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def scalar(value: object, allowed: tuple[type, ...], where: str) -> object:
    """Return ``value`` if it is one of the ``allowed`` scalar types (an int is a float too)."""
    if isinstance(value, bool):
        if bool in allowed:
            return value
    elif isinstance(value, int) and (int in allowed or float in allowed):
        return value if int in allowed else float(value)
    elif isinstance(value, float) and float in allowed:
        if not math.isfinite(value):
            raise BadState(f"{where} is {value}, not a number")
        return value
    elif (isinstance(value, str) and str in allowed) or (value is None and type(None) in allowed):
        return value
    wanted = " or ".join(_WORDS[t] for t in allowed)
    shown = f" ({value!r})" if isinstance(value, (str, int, float)) and len(repr(value)) <= 40 else ""
    raise BadState(f"{where} should be {wanted}, not {_what(value)}{shown}")


def record(cls: type[R], data: object, where: str) -> R:
    """Return a ``cls`` built from a mapping of its fields; unknown keys are ignored."""
    if not isinstance(data, dict):
        raise BadState(f"{where} should be a record, not {_what(data)}")
    values = {}
    for name, allowed, optional in _kinds(typing.cast(type, cls)):
        if name in data:
            values[name] = scalar(data[name], allowed, _at(where, name))
        elif not optional:
            raise BadState(f"{_at(where, name)} is missing")
    return cls(**values)


def listed(data: object, where: str) -> list[Any]:
    """Return ``data`` if it is a list."""
    if not isinstance(data, list):
        raise BadState(f"{where} should be a list, not {_what(data)}")
    return data


def records(cls: type[R], data: object, where: str) -> list[R]:
    """Return a list of ``cls`` records."""
    return [record(cls, item, f"{where}[{i}]") for i, item in enumerate(listed(data, where))]


def names(data: object, where: str) -> list[str]:
    """Return a list of texts (symbol names)."""
    return [typing.cast(str, scalar(item, (str,), f"{where}[{i}]")) for i, item in enumerate(listed(data, where))]


def shifts(data: object, where: str) -> dict[str, list[tuple[int, float]]]:
    """Return the manual price moves: per symbol, ``[moment, shift]`` pairs."""
    if not isinstance(data, dict):
        raise BadState(f"{where} should be a record, not {_what(data)}")
    out: dict[str, list[tuple[int, float]]] = {}
    for symbol, items in data.items():
        pairs = []
        for i, item in enumerate(listed(items, f"{where}.{symbol}")):
            at = f"{where}.{symbol}[{i}]"
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise BadState(f"{at} should be a moment and a price shift")
            pairs.append((typing.cast(int, scalar(item[0], (int,), at)),
                          typing.cast(float, scalar(item[1], (float,), at))))
        out[symbol] = pairs
    return out


def holds(data: object, where: str) -> dict[str, list[tuple[int, float | None]]]:
    """Return the held prices: per symbol, ``[moment, bid or null]`` pairs."""
    if not isinstance(data, dict):
        raise BadState(f"{where} should be a record, not {_what(data)}")
    out: dict[str, list[tuple[int, float | None]]] = {}
    for symbol, items in data.items():
        pairs: list[tuple[int, float | None]] = []
        for i, item in enumerate(listed(items, f"{where}.{symbol}")):
            at = f"{where}.{symbol}[{i}]"
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise BadState(f"{at} should be a moment and a price")
            pairs.append((typing.cast(int, scalar(item[0], (int,), at)),
                          typing.cast("float | None", scalar(item[1], (float, type(None)), at))))
        out[symbol] = pairs
    return out


# Parts of the state that are one record each or a list of them (the rest is scalars).
NESTED = ("account", "symbols", "selected", "clock", "terminal", "closed_markets", "shifts", "holds", "positions",
          "orders", "history_orders", "deals", "faults")


def books(data: dict[str, Any], where: str = "") -> SimState:
    """Return the state's scalars and small parts (``data`` is :func:`model.state_to_json`'s form).

    The four lists of orders, positions and deals are taken from ``data`` when present.
    """
    state = _state_scalars(data, where)
    state.account = record(AccountSpec, data.get("account"), _at(where, "account"))
    state.symbols = records(SymbolSpec, data.get("symbols"), _at(where, "symbols"))
    state.selected = names(data.get("selected"), _at(where, "selected"))
    state.clock = record(ClockRec, data.get("clock", {}), _at(where, "clock"))
    state.terminal = record(TerminalRec, data.get("terminal", {}), _at(where, "terminal"))
    state.closed_markets = names(data.get("closed_markets", []), _at(where, "closed_markets"))
    state.shifts = shifts(data.get("shifts", {}), _at(where, "shifts"))
    state.holds = holds(data.get("holds", {}), _at(where, "holds"))
    state.faults = records(FaultRec, data.get("faults", []), _at(where, "faults"))
    state.positions = records(PositionRec, data.get("positions", []), _at(where, "positions"))
    state.orders = records(OrderRec, data.get("orders", []), _at(where, "orders"))
    state.history_orders = records(OrderRec, data.get("history_orders", []), _at(where, "history_orders"))
    state.deals = records(DealRec, data.get("deals", []), _at(where, "deals"))
    return state


@cache
def _scalar_kinds() -> tuple[tuple[str, tuple[type, ...], bool], ...]:
    hints = typing.get_type_hints(SimState)
    return tuple((f.name, (hints[f.name],), f.default is not MISSING) for f in fields(SimState)
                 if f.name not in NESTED)


def _state_scalars(data: dict[str, Any], where: str) -> SimState:
    values = {}
    for name, allowed, optional in _scalar_kinds():
        if name in data:
            values[name] = scalar(data[name], allowed, _at(where, name))
        elif not optional:
            raise BadState(f"{_at(where, name)} is missing")
    return SimState(account=AccountSpec(), symbols=[], selected=[], **values)  # type: ignore[arg-type]


def state_from_json(data: object) -> SimState:
    """Return the state from :func:`model.state_to_json`'s form (a version 1 state file's ``simulator`` part)."""
    if not isinstance(data, dict):
        raise BadState(f"the state should be a record, not {_what(data)}")
    if data.get("version") != STATE_VERSION:
        raise BadState(f"its version is {data.get('version')!r}, and this version of TNM Desktop reads {STATE_VERSION}")
    return books(data)
