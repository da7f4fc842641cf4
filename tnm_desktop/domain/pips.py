"""What a pip is, for every symbol: the one rule, from the symbol's contract data.

A pip is a price distance. Alerts and settings give stops in pips (``sl_pips=20``, PineConnector's
``sl=20``), so the same number must mean a sensible distance on every instrument:

===========  ==========================================  =====================================
kind         recognised by                               one pip
===========  ==========================================  =====================================
FX           MT5 calc mode Forex, a path under "Forex",  10 points on 5- and 3-digit quotes
             or two currency codes                       (EURUSD 1.08123 → 0.0001, USDJPY
                                                         151.234 → 0.01); 1 point on 4- and
                                                         2-digit quotes
metals       base currency XAU, XAG, XPT or XPD, or a    10 points (XAUUSD 2650.12 → 0.10,
             path under "Metals"                         XAGUSD 31.123 → 0.01)
indices      MT5 calc mode CFD index, or a path under    one index point, 1.0 (US30 42000.5,
             "Indices"/"Index"                           DE40 18000.25); one point if coarser
crypto and   anything else                               10 points (BTCUSD 65000.12 → 0.10)
the rest
===========  ==========================================  =====================================

Brokers differ on metals, indices and crypto, so a broker connection can set the pip size of
any symbol (``pip_sizes``), which wins over the rule.
"""

from __future__ import annotations

import re
from enum import StrEnum

from tnm_desktop.errors import UserError

METALS = frozenset({"XAU", "XAG", "XPT", "XPD"})
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Codes that look like currencies but are coins (BTC, ETH…): a symbol made of them is not FX.
_COINS = frozenset({"BTC", "ETH", "LTC", "XRP", "BCH", "ADA", "DOT", "SOL", "BNB", "XLM", "EOS", "TRX", "XMR",
                    "ZEC"})


class InstrumentKind(StrEnum):
    """Which pip convention applies to a symbol."""

    FX = "fx"
    METAL = "metal"
    INDEX = "index"
    OTHER = "other"


def instrument_kind(*, path: str = "", calc_mode: str = "", currency_base: str = "",
                    currency_profit: str = "") -> InstrumentKind:
    """Classify a symbol from its Market Watch path, MT5 calc mode and currencies.

    Args:
        path: The symbol's Market Watch path (``Metals\\XAUUSD.m``).
        calc_mode: MT5's ``SYMBOL_CALC_MODE_*`` as a word: ``forex``, ``forex_no_leverage``,
            ``cfd_index``, ``cfd``… (empty when unknown).
        currency_base: The base currency (``XAU`` for gold).
        currency_profit: The profit currency.
    """
    folders = path.replace("/", "\\").lower().split("\\")[:-1]
    base, profit = currency_base.upper(), currency_profit.upper()
    if base in METALS or any(f.startswith("metal") for f in folders):
        return InstrumentKind.METAL
    if calc_mode == "cfd_index" or any(f.startswith(("indic", "index")) for f in folders):
        return InstrumentKind.INDEX
    if any(f.startswith("crypto") for f in folders) or base in _COINS or profit in _COINS:
        return InstrumentKind.OTHER
    if calc_mode in ("forex", "forex_no_leverage") or any(f.startswith(("forex", "fx", "currenc")) for f in folders):
        return InstrumentKind.FX
    if not folders and _CURRENCY.match(base) and _CURRENCY.match(profit) and base != profit:
        return InstrumentKind.FX
    return InstrumentKind.OTHER


def pip_size(kind: InstrumentKind, digits: int, point: float, override: float | None = None) -> float:
    """The price distance of one pip (``override``: the broker connection's setting for the symbol)."""
    if override is not None and override > 0:
        return override
    if kind is InstrumentKind.FX:
        return round(point * 10, 12) if digits in (3, 5) else point
    if kind is InstrumentKind.INDEX:
        return max(point, 1.0)
    return round(point * 10, 12)


def describe_pip(pip: float) -> str:
    """A pip size as a trader reads it (``0.0001``, ``0.1``, ``1``)."""
    return f"{pip:.10f}".rstrip("0").rstrip(".")


def parse_pip_sizes(text: str) -> dict[str, float]:
    """Read ``"XAUUSD=0.01, US30=0.1"`` (commas, semicolons or new lines between entries).

    Raises:
        UserError: an entry is not ``SYMBOL=size`` with a positive size, or a symbol comes twice.
    """
    sizes: dict[str, float] = {}
    for raw in re.split(r"[,;\n]", text):
        entry = raw.strip()
        if not entry:
            continue
        symbol, sep, value = (part.strip() for part in entry.partition("="))
        if not sep or not re.fullmatch(r"[A-Za-z0-9._!/-]{1,32}", symbol):
            raise UserError(f"“{entry}” is not a pip size: write SYMBOL=size, like XAUUSD=0.01.", code="invalid")
        try:
            size = float(value)
        except ValueError:
            size = 0.0
        if not size > 0 or size != size or size > 100_000:
            raise UserError(f"The pip size of {symbol} must be a positive number, like 0.01 (got “{value}”).",
                            code="invalid")
        key = symbol.upper()
        if key in sizes:
            raise UserError(f"{key} has two pip sizes.", code="invalid")
        sizes[key] = size
    return sizes


def format_pip_sizes(sizes: dict[str, float]) -> str:
    """The pip sizes as the broker dialog shows them (``US30=1, XAUUSD=0.01``)."""
    return ", ".join(f"{symbol}={describe_pip(size)}" for symbol, size in sorted(sizes.items()))
