"""The simulated broker's contract data: symbols with a broker suffix, and the demo account.

The numbers are those of a typical retail ECN broker's ``.m`` account: five-digit FX quotes,
gold in 100-ounce lots, an index CFD and bitcoin in single units, each with its own volume
limits, filling modes, stops level and execution mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from tnm_desktop.terminal import mt5api as mt5


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One instrument's contract.

    Attributes:
        name: Broker symbol, suffix included.
        digits: Price decimals; a point is ``10 ** -digits``.
        contract_size: Units of the base asset in one lot.
        volume_min: Smallest volume in lots.
        volume_step: Volume granularity in lots.
        volume_max: Largest volume of one order in lots.
        filling_flags: ``SYMBOL_FILLING_*`` flags of market orders the broker accepts.
        exemode: ``SYMBOL_TRADE_EXECUTION_*``; instant execution requotes beyond the deviation.
        stops_level: Minimum distance in points of SL/TP (and pending prices) from the market.
        freeze_level: Distance in points from the market within which an order's price or a
            position's SL/TP may not be changed or removed (10029, frozen).
        order_mode: ``SYMBOL_ORDER_*`` flags of the order types the broker accepts.
        calc_mode: ``SYMBOL_CALC_MODE_*`` used for margin.
        margin_rate: Initial margin rate applied on top of the account leverage.
        spread: Spread in points.
        anchor: The bid the price feed wanders around.
        daily_vol: Relative daily volatility of the feed.
    """

    name: str
    description: str
    path: str
    digits: int
    contract_size: float
    volume_min: float
    volume_step: float
    volume_max: float
    filling_flags: int
    exemode: int
    stops_level: int
    calc_mode: int
    currency_base: str
    currency_profit: str
    currency_margin: str
    spread: int
    anchor: float
    daily_vol: float
    margin_rate: float = 1.0
    trade_mode: int = mt5.SYMBOL_TRADE_MODE_FULL
    freeze_level: int = 0
    swap_long: float = 0.0
    swap_short: float = 0.0
    order_mode: int = mt5.SYMBOL_ORDER_ALL

    @property
    def point(self) -> float:
        """The price of one point."""
        return float(10.0 ** -self.digits)

    @property
    def tick_size(self) -> float:
        """The smallest price change (one point for every symbol here)."""
        return self.point


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """The demo account the simulated terminal is logged in to."""

    login: int = 51234567
    server: str = "TNM-Simulator"
    company: str = "TNM Simulated Markets Ltd"
    name: str = "Paper Trader"
    currency: str = "USD"
    leverage: int = 100
    balance: float = 10_000.0
    margin_so_call: float = 100.0
    margin_so_so: float = 50.0
    server_offset_s: int = 2 * 3600  # EET winter time, as most retail brokers run their servers


_FX = mt5.SYMBOL_CALC_MODE_FOREX
_CFD = mt5.SYMBOL_CALC_MODE_CFDLEVERAGE
_FOK = mt5.SYMBOL_FILLING_FOK
_IOC = mt5.SYMBOL_FILLING_IOC
_INSTANT = mt5.SYMBOL_TRADE_EXECUTION_INSTANT
_MARKET = mt5.SYMBOL_TRADE_EXECUTION_MARKET
_NO_STOP_LIMIT = mt5.SYMBOL_ORDER_ALL & ~mt5.SYMBOL_ORDER_STOP_LIMIT  # the index and crypto CFDs

DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("EURUSD.m", "Euro vs US Dollar", "Forex\\Majors\\EURUSD.m", 5, 100_000.0, 0.01, 0.01, 100.0,
               _FOK, _INSTANT, 0, _FX, "EUR", "USD", "EUR", 12, 1.08500, 0.005, swap_long=-7.2, swap_short=2.1),
    SymbolSpec("GBPUSD.m", "Great Britain Pound vs US Dollar", "Forex\\Majors\\GBPUSD.m", 5, 100_000.0, 0.01, 0.01,
               50.0, _IOC, _MARKET, 10, _FX, "GBP", "USD", "GBP", 18, 1.27000, 0.006, swap_long=-3.9, swap_short=-1.4),
    SymbolSpec("USDJPY.m", "US Dollar vs Japanese Yen", "Forex\\Majors\\USDJPY.m", 3, 100_000.0, 0.01, 0.01, 100.0,
               _FOK | _IOC, _INSTANT, 0, _FX, "USD", "JPY", "USD", 15, 151.500, 0.006, swap_long=12.5,
               swap_short=-26.0),
    SymbolSpec("XAUUSD.m", "Gold vs US Dollar", "Metals\\XAUUSD.m", 2, 100.0, 0.01, 0.01, 50.0,
               _FOK, _MARKET, 50, _CFD, "XAU", "USD", "USD", 25, 2650.00, 0.010, swap_long=-45.0, swap_short=20.0,
               freeze_level=20),
    SymbolSpec("US30.m", "Wall Street 30 Index CFD", "Indices\\US30.m", 1, 1.0, 0.1, 0.1, 50.0,
               _IOC, _MARKET, 100, _CFD, "USD", "USD", "USD", 20, 42000.0, 0.010, margin_rate=2.0, freeze_level=50,
               order_mode=_NO_STOP_LIMIT),
    SymbolSpec("BTCUSD.m", "Bitcoin vs US Dollar", "Crypto\\BTCUSD.m", 2, 1.0, 0.01, 0.01, 5.0,
               _FOK | _IOC, _MARKET, 1000, _CFD, "BTC", "USD", "USD", 1500, 65000.00, 0.030, margin_rate=5.0,
               order_mode=_NO_STOP_LIMIT),
)

# What the Market Watch shows when a terminal is first started (the rest must be selected).
DEFAULT_SELECTED: tuple[str, ...] = ("EURUSD.m", "GBPUSD.m", "USDJPY.m", "XAUUSD.m")
