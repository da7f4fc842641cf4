"""The remote simulator's wire format: one JSON object per line, values tagged by kind.

Requests: ``{"id", "token", "target": "mt5"|"control", "method", "args", "kwargs"}``. Answers:
``{"id", "value", "last_error"}`` for MT5 calls, ``{"id", "value"}`` for control calls, or
``{"id", "fail": {"type", "message"}}`` when the call raised. Named tuples, tuples, NumPy bar
and tick arrays and mappings travel tagged so the client rebuilds exactly what the MT5 package
would return; datetimes travel as POSIX seconds (what the terminal compares anyway).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

from tnm_desktop.terminal import mt5api as mt5

MAX_LINE = 4 * 1024 * 1024  # a year of M1 bars fits; anything larger is not a request we sent
_ARRAYS = {"rates": mt5.RATES_DTYPE, "ticks": mt5.TICKS_DTYPE}
_PLAIN = frozenset({int, float, str, bool, type(None)})  # what travels as it is


def encode(value: Any) -> Any:
    """Return ``value`` as JSON-ready data."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, tuple) and type(value).__name__ in mt5.RECORD_TYPES and hasattr(value, "_fields"):
        return {"$record": type(value).__name__,
                "values": [v if type(v) in _PLAIN else encode(v) for v in value]}  # most fields are plain
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, np.ndarray):
        for name, dtype in _ARRAYS.items():
            if value.dtype == dtype:
                return {"$array": name, "rows": [list(row) for row in value.tolist()]}
        raise TypeError(f"cannot send an array of {value.dtype}")
    if isinstance(value, Mapping):
        return {"$map": [[str(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"cannot send a {type(value).__name__}")


def decode(data: Any) -> Any:
    """Rebuild a value from :func:`encode` output."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "$record" in data:
        record = mt5.RECORD_TYPES[str(data["$record"])]
        return record(*[v if type(v) in _PLAIN else decode(v) for v in data["values"]])
    if "$tuple" in data:
        return tuple(decode(v) for v in data["$tuple"])
    if "$array" in data:
        return np.array([tuple(row) for row in data["rows"]], dtype=_ARRAYS[str(data["$array"])])
    if "$map" in data:
        return {str(k): decode(v) for k, v in data["$map"]}
    raise ValueError("unknown value on the wire")
