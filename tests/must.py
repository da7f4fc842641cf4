"""``must(x)``: a value the test needs present, typed without its ``None``.

The MetaTrader5 API (and the simulator, which offers the same) returns ``None`` on failure; a
test that expects success says so with ``must(sim.positions_get())``, and fails right there, with
what was missing, when it is not.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def must(value: T | None, what: str = "a value") -> T:
    """Return ``value``, failing the test when it is None."""
    assert value is not None, f"expected {what}, got None"
    return value
