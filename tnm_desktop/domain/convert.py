"""Turn a database row into Python values, whichever adapter read it.

psycopg gives datetimes, Decimals and UUIDs; PostgREST gives the same values as JSON strings and
numbers. Both adapters build the domain objects through these helpers, so a dataclass is built
the same way from either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, SupportsFloat, SupportsInt
from uuid import UUID

Row = Mapping[str, Any]


def text(value: object) -> str:
    """A required text or id."""
    if value is None:
        raise ValueError("missing value")
    return str(value)


def opt_text(value: object) -> str | None:
    """An optional text or id."""
    return None if value is None else str(value)


def number(value: SupportsFloat | str | None) -> float:
    """A required number (numeric columns arrive as Decimal or JSON numbers/strings)."""
    if value is None:
        raise ValueError("missing number")
    return float(value)


def opt_number(value: SupportsFloat | str | None) -> float | None:
    """An optional number."""
    return None if value is None else float(value)


def opt_int(value: SupportsInt | str | None) -> int | None:
    """An optional integer."""
    return None if value is None else int(value)


def moment(value: datetime | str | None) -> datetime:
    """A required timestamp, always timezone-aware."""
    result = opt_moment(value)
    if result is None:
        raise ValueError("missing timestamp")
    return result


def opt_moment(value: datetime | str | None) -> datetime | None:
    """An optional timestamp, always timezone-aware (UTC when the source gave no zone)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        raw = str(value).replace("Z", "+00:00")
        # PostgREST may give 1–6 fractional digits; fromisoformat wants 3 or 6 on 3.11.
        if "." in raw:
            head, _, tail = raw.partition(".")
            digits = ""
            rest = tail
            while rest and rest[0].isdigit():
                digits, rest = digits + rest[0], rest[1:]
            raw = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
        if len(raw) >= 3 and raw[-3] in "+-" and raw[-2:].isdigit() and ":" not in raw[-6:]:
            raw += ":00"  # '+00' → '+00:00'
        parsed = datetime.fromisoformat(raw)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def json_value(value: Any) -> Any:
    """A jsonb column: already decoded by psycopg and PostgREST; a str only if it was text."""
    return value


def json_object(value: Any) -> dict[str, Any]:
    """A jsonb object column (empty when NULL)."""
    if value is None:
        return {}
    if isinstance(value, str):
        decoded = json.loads(value)
        return dict(decoded) if isinstance(decoded, dict) else {}
    return dict(value)


def str_tuple(value: Iterable[object] | None) -> tuple[str, ...] | None:
    """A text[] column (None when NULL)."""
    if value is None:
        return None
    return tuple(str(v) for v in value)


def to_json(value: object) -> Any:
    """Make a value JSON-serialisable for a request body or a jsonb parameter."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value) if isinstance(value, UUID) else float(value)
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value
