"""How numbers, times and durations read in the GUI."""

from __future__ import annotations

from datetime import datetime


def ago(seconds: float) -> str:
    """``2 s ago``, ``3 min ago``, ``5 h ago``, ``2 d ago``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def moment(value: datetime | None, *, empty: str = "—") -> str:
    """A timestamp in the user's local time, to the second."""
    if value is None:
        return empty
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def precise(value: datetime | None, *, empty: str = "—") -> str:
    """A timestamp in local time, to the millisecond (stage times)."""
    if value is None:
        return empty
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def duration_ms(ms: float) -> str:
    """``850 ms``, ``1.25 s``, ``3 min 4 s``."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(int(ms // 1000), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def money(amount: float, currency: str = "") -> str:
    """``10,000.00 USD``."""
    text = f"{amount:,.2f}"
    return f"{text} {currency}".strip()


def price(value: float | None) -> str:
    """A price without trailing zeros beyond what brokers quote (5 decimals at most)."""
    if value is None:
        return ""
    text = f"{value:.5f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def percent(value: float | None, *, empty: str = "") -> str:
    """``0.5 %``."""
    return empty if value is None else f"{value:g} %"
