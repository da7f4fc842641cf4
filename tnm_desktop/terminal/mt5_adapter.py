"""The real terminal adapter: :class:`Mt5Terminal` drives any object with the MetaTrader5 API.

That object is the Windows ``MetaTrader5`` package itself, an ``mt5linux`` client, the
in-process simulator or the remote simulator's client — the same code path for all of them,
which is why the simulator's tests test this adapter. The package keeps one global connection
and is not thread-safe, so every call here holds one lock; calls block, and the agent makes
them from its own thread. How orders are retried and classified: :mod:`.sending`.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar, cast

from tnm_desktop.errors import OperationalError, TnmError, TransientError, UserError
from tnm_desktop.terminal import convert
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.lookup import find_by_token
from tnm_desktop.terminal.port import (
    AccountSnapshot,
    Candle,
    ChangeOutcome,
    ConnectSettings,
    Deal,
    MarketOrder,
    OrderOutcome,
    OrderRecord,
    PendingOrder,
    Position,
    Quote,
    Side,
    SymbolSpec,
    TerminalStatus,
    Timeframe,
    TokenMatches,
)
from tnm_desktop.terminal.sending import AUTO_TRADING_OFF, NOT_LOGGED_IN, OrderSender

T = TypeVar("T")

# A symbol's contract data read for sizing is reused for the order right after it (its filling
# modes, its volume step): an order is one call to the terminal on top of the sizing reads, not
# four. A refused order, a reconnection or a minute drops it.
_SPEC_TTL = 60.0
_OFFSET_TTL = timedelta(hours=1)  # re-measure hourly: servers switch to summer time
_OFFSET_STEP_S = 900  # offsets are whole quarter hours; ticks are a little late


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def load_metatrader5() -> mt5.Mt5Api:
    """Import the official ``MetaTrader5`` package (Windows only) — the one place that does.

    Raises:
        OperationalError: the package is not installed (or this is not Windows).
    """
    try:
        return cast(mt5.Mt5Api, importlib.import_module("MetaTrader5"))
    except ImportError as exc:
        raise OperationalError("The MetaTrader5 package is not installed (it exists for Windows only): "
                               "pip install MetaTrader5.", code="metatrader5_missing") from exc


def initialize_failure(settings: ConnectSettings, code: int, message: str) -> TnmError:
    """What a failed ``initialize`` means for the trader, by the MetaTrader5 package's error code.

    A refused login needs the trader (OperationalError); the rest may pass once the terminal is
    up (TransientError, so the agent retries).
    """
    where = f"from {settings.path}" if settings.path else "where it is installed"
    if code == mt5.RES_E_AUTH_FAILED:
        account = f"account {settings.login} on {settings.server}" if settings.login else "the account"
        return OperationalError(f"MetaTrader 5 could not log in to {account}: {message}. Check the login, the "
                                "password and the server name as the terminal's login window shows them.",
                                code="terminal_login_failed")
    if code == mt5.RES_E_INTERNAL_FAIL_INIT:
        return TransientError(f"MetaTrader 5 could not be started {where} ({message}). Check that MetaTrader 5 "
                              "(64-bit) is installed and that the path points to its terminal64.exe.",
                              code="terminal_unreachable")
    if code == mt5.RES_E_INTERNAL_FAIL_TIMEOUT:
        return TransientError(f"MetaTrader 5 did not answer in time ({message}). It may be starting, updating or "
                              "showing a dialog: look at the terminal's window, then try again.",
                              code="terminal_unreachable")
    if code == mt5.RES_E_INVALID_VERSION:
        return OperationalError(f"This MetaTrader 5 is too old for the MetaTrader5 package ({message}). Update "
                                "the terminal (Help → Check for Updates) and try again.", code="terminal_refused")
    return TransientError(f"MetaTrader 5 is not running or cannot be reached ({message}). Start the terminal and "
                          "log in to your account, then try again.", code="terminal_unreachable")


def _down_to_step(volume: float, step: float) -> float:
    steps = (Decimal(repr(volume)) / Decimal(repr(step))).to_integral_value(rounding=ROUND_DOWN)
    return float(steps * Decimal(repr(step)))


# How old a quote the caller read may be for a market order to go out at its price instead of a
# fresh tick's: the order is usually sent a few milliseconds after the quote its stops were
# placed from, and the price only bounds the slippage accepted (``deviation``).
TICK_REUSE = 0.1


class Mt5Terminal:
    """:class:`~tnm_desktop.terminal.port.TerminalPort` over an object with the MetaTrader5 module's API.

    Args:
        api: The ``MetaTrader5`` module or anything offering its functions.
        settings: How to (re)connect; calls connect on demand with these.
        server_offset: The trade server's offset from UTC, if known; measured from ticks otherwise.
        price_retries: How many times a requote or moved price is retried with a fresh tick.
        clock: The current UTC time (tests may freeze it).
    """

    def __init__(self, api: mt5.Mt5Api, *, settings: ConnectSettings | None = None,
                 server_offset: timedelta | None = None, price_retries: int = 3,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._api = api
        self._settings = settings or ConnectSettings()
        self._fixed_offset = server_offset
        self._price_retries = price_retries
        self._clock = clock
        self._lock = threading.RLock()
        self._connected = False
        self._offset: timedelta | None = None
        self._offset_at = datetime.min.replace(tzinfo=UTC)
        self._used: dict[str, None] = {}  # symbols traded or quoted, newest last: their ticks date the server
        self._specs: dict[str, tuple[SymbolSpec, float]] = {}  # (contract data, monotonic time read)
        self._ticks: dict[str, tuple[Any, float]] = {}  # the last tick quoted per symbol (monotonic time read)
        self._sender = OrderSender(api, self._get, self._lost, price_retries)

    def __repr__(self) -> str:
        return f"Mt5Terminal({self._api!r})"

    # -- connection and failures -----------------------------------------------------------

    def connect(self, settings: ConnectSettings | None = None) -> TerminalStatus:
        """Connect (and log in when ``settings`` name an account); return the terminal's status."""
        with self._lock:
            if settings is not None:
                self._settings = settings
            self._connected = False
            self._specs.clear()
            self._initialize()
            return self.status()

    def _initialize(self) -> None:
        settings = self._settings
        options: dict[str, Any] = {"timeout": settings.timeout_ms}
        for name in ("login", "password", "server"):
            if getattr(settings, name) is not None:
                options[name] = getattr(settings, name)
        ok = (self._api.initialize(settings.path, **options) if settings.path
              else self._api.initialize(**options))
        if not ok:
            raise initialize_failure(settings, *self._api.last_error())
        self._connected = True

    def _ensure(self) -> None:
        if not self._connected:
            self._initialize()

    def _lost(self) -> None:
        self._connected = False  # the next call initializes again, as a restarted terminal needs
        self._specs.clear()
        self._ticks.clear()

    def _failure(self, what: str) -> TnmError:
        code, message = self._api.last_error()
        if code in mt5.IPC_ERRORS:
            self._lost()
            return TransientError(f"Lost the connection to MetaTrader 5 while trying to {what} ({message}).",
                                  code="terminal_unreachable")
        if code == mt5.RES_E_AUTH_FAILED:
            return OperationalError(NOT_LOGGED_IN, code="terminal_not_logged_in")
        if code == mt5.RES_E_AUTO_TRADING_DISABLED:
            return OperationalError(AUTO_TRADING_OFF, code="auto_trading_disabled")
        if code in (mt5.RES_E_INVALID_PARAMS, mt5.RES_E_INVALID_VERSION, mt5.RES_E_UNSUPPORTED):
            return OperationalError(f"MetaTrader 5 refused to {what}: {message}. Update the terminal and the "
                                    f"MetaTrader5 package.", code="terminal_refused")
        return TransientError(f"MetaTrader 5 could not {what}: {message} ({code}).", code="terminal_call_failed")

    def _get(self, what: str, call: Callable[[], T | None]) -> T:
        self._ensure()
        value = call()
        if value is None:
            raise self._failure(what)
        return value

    def shutdown(self) -> None:
        """Let go of the terminal (it keeps running)."""
        with self._lock:
            if self._connected:
                self._api.shutdown()
            self._connected = False

    # -- the terminal and the account -----------------------------------------------------

    def status(self) -> TerminalStatus:
        """Return whether the terminal is connected, may trade, and to which account."""
        with self._lock:
            info = self._get("read the terminal's state", self._api.terminal_info)
            account = self._api.account_info()
            if account is None and self._api.last_error()[0] in mt5.IPC_ERRORS:
                raise self._failure("read the account")
            self._learn_margin_mode(account)
            return TerminalStatus(connected=bool(info.connected), trade_allowed=bool(info.trade_allowed),
                                  login=int(account.login) if account else None,
                                  server=str(account.server) if account else None,
                                  company=str(account.company) if account else str(info.company) or None)

    def account(self) -> AccountSnapshot:
        """Return the account's balance, equity and margin now."""
        with self._lock:
            self._ensure()
            info = self._api.account_info()
            if info is None:
                if self._api.last_error()[0] in mt5.IPC_ERRORS:
                    raise self._failure("read the account")
                raise OperationalError(NOT_LOGGED_IN, code="terminal_not_logged_in")
            self._learn_margin_mode(info)
            return convert.account(info)

    def _ready_to_trade(self) -> None:
        # Before a pending order or a change (rare, unlike market orders, whose own answer says the
        # same): a clear reason before anything is sent.
        info = self._get("read the terminal's state", self._api.terminal_info)
        if not info.connected:
            raise TransientError("MetaTrader 5 has no connection to the broker's trade server; nothing was sent.",
                                 code="terminal_offline")
        if not info.trade_allowed:
            raise OperationalError(AUTO_TRADING_OFF, code="auto_trading_disabled")
        self.account()

    def _learn_margin_mode(self, info: Any) -> None:
        self._sender.hedging = info is not None and int(info.margin_mode) == mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING

    # -- symbols and prices ----------------------------------------------------------------

    def symbol(self, name: str) -> SymbolSpec:
        """Return a broker symbol's contract data, selecting it in Market Watch if needed."""
        with self._lock:
            self._ensure()
            info = self._api.symbol_info(name)
            if info is None:
                if self._api.last_error()[0] in mt5.IPC_ERRORS:
                    raise self._failure(f"read {name}")
                raise UserError(f"The broker does not offer {name!r}. Check the symbol mapping (for example "
                                f"EURUSD \u2192 EURUSD.m).", code="unknown_symbol")
            if not info.select:
                if not self._api.symbol_select(name, True):
                    raise self._failure(f"show {name} in Market Watch")
                info = self._get(f"read {name}", lambda: self._api.symbol_info(name))
            self._used.pop(name, None)
            self._used[name] = None
            spec = convert.symbol_spec(info)
            self._specs[name] = (spec, time.monotonic())
            return spec

    def _order_spec(self, name: str) -> SymbolSpec:
        known = self._specs.get(name)
        if known is not None and time.monotonic() - known[1] < _SPEC_TTL:
            return known[0]
        return self.symbol(name)

    def _sent(self, name: str, outcome: OrderOutcome) -> OrderOutcome:
        if not outcome.executed:
            self._specs.pop(name, None)  # the refusal may come from contract data the broker changed
        return outcome

    def symbol_names(self, group: str | None = None) -> tuple[str, ...]:
        """Return the broker's symbol names (optionally an MT5 group mask such as ``"*USD*"``)."""
        with self._lock:
            symbols = self._get("list the symbols",
                                lambda: self._api.symbols_get(group) if group else self._api.symbols_get())
            return tuple(str(s.name) for s in symbols)

    def read_ahead(self, quote: str | None = None) -> None:
        """The account, then the positions (then ``quote``'s prices) are about to be read: ask for
        them in one trip when the API can (the simulator's client, whose every call is a trip over
        a socket); the ``MetaTrader5`` package cannot, and needs not. The reads themselves are
        made as usual, and each reports its own errors."""
        ahead = getattr(self._api, "ahead", None)
        if ahead is None:
            return
        with self._lock:
            if self._connected:
                ticks = [("symbol_info_tick", (quote,))] if quote else []
                ahead([("account_info", ()), ("positions_get", ()), *ticks])

    def quote(self, name: str) -> Quote:
        """Return the symbol's last bid and ask."""
        with self._lock:
            self._ensure()
            tick = self._api.symbol_info_tick(name)
            if tick is None:
                if self._api.last_error()[0] in mt5.IPC_ERRORS:
                    raise self._failure(f"read {name}'s prices")
                self.symbol(name)  # unknown: UserError; not in Market Watch: selects it
                tick = self._get(f"read {name}'s prices", lambda: self._api.symbol_info_tick(name))
            self._ticks[name] = (tick, time.monotonic())
            return Quote(name, float(tick.bid), float(tick.ask), convert.utc(int(tick.time_msc),
                                                                            self.server_time_offset()))

    # -- orders ----------------------------------------------------------------------------

    def send_market_order(self, order: MarketOrder) -> OrderOutcome:
        """Send a market order; retry what is safe to retry; classify the result.

        The terminal's state (connected, auto-trading, logged in) is not asked first: the order's
        own answer tells each of them, and asking would cost every order two more calls. Its price
        is the quote the caller read for it (the one its stops were placed from) when that is
        under :data:`TICK_REUSE` seconds old, else a fresh tick; a requote or a moved price is
        retried with a fresh one.
        """
        with self._lock:
            self._ensure()
            spec = self._order_spec(order.symbol)
            return self._sent(spec.name, self._sender.send(
                spec, order.side, order.volume, sl=order.sl, tp=order.tp, deviation=order.deviation,
                magic=order.magic, comment=order.comment, position=0, tick=self._recent_tick(spec.name)))

    def _recent_tick(self, name: str) -> Any | None:
        # Used once: an order after it reads the prices again.
        tick, read_at = self._ticks.pop(name, (None, 0.0))
        return tick if time.monotonic() - read_at < TICK_REUSE else None

    def close_position(self, ticket: int, volume: float | None = None, *, deviation: int = 20, magic: int = 0,
                       comment: str = "", seen: Position | None = None) -> OrderOutcome:
        """Close a position, or ``volume`` lots of it (rounded down to the step), by an opposite deal.

        ``seen``: the position as the caller has just read it. If it has closed since, the broker
        refuses the order (nothing is sent twice). Its price is a quote under :data:`TICK_REUSE`
        seconds old (as read with the account while its job was claimed), else a fresh tick.
        """
        with self._lock:
            if seen is not None and seen.ticket == ticket:
                symbol, held, long = seen.symbol, seen.volume, seen.side is Side.BUY
            else:
                found = self._get("read the positions", lambda: self._api.positions_get(ticket=ticket))
                if not found:
                    raise UserError(f"Position #{ticket} is not open; it may have been closed already.",
                                    code="position_not_open")
                symbol, held = str(found[0].symbol), float(found[0].volume)
                long = int(found[0].type) == mt5.POSITION_TYPE_BUY
            self._ensure()
            spec = self._order_spec(symbol)
            lots = held if volume is None else _down_to_step(volume, spec.volume_step)
            if lots <= 0 or lots > held + 1e-9:
                raise UserError(f"Cannot close {volume} lots of position #{ticket}, which holds {held}.",
                                code="invalid_close_volume")
            side = Side.SELL if long else Side.BUY
            return self._sent(spec.name, self._sender.send(spec, side, lots, sl=None, tp=None, deviation=deviation,
                                                           magic=magic, comment=comment, position=ticket,
                                                           tick=self._recent_tick(spec.name)))

    def send_pending_order(self, order: PendingOrder) -> OrderOutcome:
        """Place a pending order; ``PLACED`` when the broker took it."""
        with self._lock:
            self._ready_to_trade()
            spec = self.symbol(order.symbol)
            if order.kind not in spec.pending_kinds:
                raise UserError(f"The broker does not accept {order.kind.value.replace('_', '-')} orders on "
                                f"{spec.name}.", code="order_kind_not_offered")
            expiration = (None if order.expires_at is None
                          else convert.server_seconds(order.expires_at, self.server_time_offset()))
            return self._sender.send_pending(spec, order, expiration)

    def modify_position(self, ticket: int, sl: float | None, tp: float | None) -> ChangeOutcome:
        """Set an open position's SL and TP (``None``: none)."""
        with self._lock:
            self._ready_to_trade()
            found = self._get("read the positions", lambda: self._api.positions_get(ticket=ticket))
            if not found:
                raise UserError(f"Position #{ticket} is not open; it may have been closed already.",
                                code="position_not_open")
            return self._sender.change({"action": mt5.TRADE_ACTION_SLTP, "symbol": str(found[0].symbol),
                                        "position": ticket, "sl": sl or 0.0, "tp": tp or 0.0})

    def remove_order(self, ticket: int) -> ChangeOutcome:
        """Delete a pending order."""
        with self._lock:
            self._ready_to_trade()
            found = self._get("read the pending orders", lambda: self._api.orders_get(ticket=ticket))
            if not found:
                raise UserError(f"Order #{ticket} is not pending; it may have triggered, expired or been deleted.",
                                code="order_not_pending")
            return self._sender.change({"action": mt5.TRADE_ACTION_REMOVE, "order": ticket})

    def orders(self, symbol: str | None = None) -> tuple[OrderRecord, ...]:
        """Return the pending orders (of one symbol)."""
        with self._lock:
            records = self._get("read the pending orders", lambda: self._api.orders_get(symbol=symbol) if symbol
                                else self._api.orders_get())
            offset = self.server_time_offset()
            return tuple(convert.order(r, offset) for r in records)

    # -- positions, history, bars ------------------------------------------------------------

    def positions(self, symbol: str | None = None) -> tuple[Position, ...]:
        """Return the open positions (of one symbol)."""
        with self._lock:
            records = self._get("read the positions", lambda: self._api.positions_get(symbol=symbol) if symbol
                                else self._api.positions_get())
            offset = self.server_time_offset()
            return tuple(convert.position(r, offset) for r in records)

    def position(self, ticket: int) -> Position | None:
        """Return one open position, or ``None`` if it is not open."""
        with self._lock:
            records = self._get("read the positions", lambda: self._api.positions_get(ticket=ticket))
            return convert.position(records[0], self.server_time_offset()) if records else None

    def find_by_token(self, token: str, *, lookback: timedelta = timedelta(days=30)) -> TokenMatches:
        """Find every order, position and deal whose opening carried ``token`` in its comment."""
        if not token:
            raise UserError("A comment token cannot be empty.", code="invalid_token")
        with self._lock:
            return find_by_token(self._api, self._get, token, now=self._clock(), offset=self.server_time_offset(),
                                 lookback=lookback)

    def deals_since(self, since: datetime) -> tuple[Deal, ...]:
        """Return the deals done since ``since`` (aware UTC), oldest first."""
        if since.tzinfo is None:
            raise UserError("deals_since needs an aware UTC time.", code="naive_time")
        with self._lock:
            offset = self.server_time_offset()
            first = convert.server_seconds(since, offset)
            last = convert.server_seconds(self._clock() + timedelta(days=1), offset)
            records = self._get("read the deal history", lambda: self._api.history_deals_get(first, last))
            deals = (convert.deal(r, offset) for r in records)
            return tuple(sorted((d for d in deals if d.time >= since), key=lambda d: (d.time, d.ticket)))

    def server_time_offset(self) -> timedelta:
        """Return how far the trade server's clock is ahead of UTC (from the newest tick, hourly)."""
        if self._fixed_offset is not None:
            return self._fixed_offset
        with self._lock:
            now = self._clock()
            if self._offset is not None and now - self._offset_at < _OFFSET_TTL:
                return self._offset
            self._ensure()
            names = list(self._used)[-10:]
            if not names:
                symbols = self._get("list the symbols", self._api.symbols_get)
                names = [str(s.name) for s in symbols if s.select][:10]
            ticks = [self._api.symbol_info_tick(name) for name in names]
            if ticks and all(t is None for t in ticks) and self._api.last_error()[0] in mt5.IPC_ERRORS:
                raise self._failure("read the quotes")
            newest = max((int(t.time) for t in ticks if t is not None and t.time), default=None)
            offset = None if newest is None else timedelta(
                seconds=round((newest - now.timestamp()) / _OFFSET_STEP_S) * _OFFSET_STEP_S)
            if offset is None or abs(offset) > timedelta(hours=14):
                if self._offset is not None:
                    return self._offset  # quotes are stale (a weekend): keep what was measured
                raise TransientError("MetaTrader 5 has no fresh quotes, so the broker's server time is unknown yet.",
                                     code="no_quotes")
            self._offset, self._offset_at = offset, now
            return offset

    def candles(self, symbol: str, timeframe: Timeframe, count: int) -> tuple[Candle, ...]:
        """Return the last ``count`` bars, oldest first, the forming bar last."""
        if count <= 0:
            raise UserError("Ask for at least one candle.", code="invalid_count")
        with self._lock:
            self.symbol(symbol)
            rates = self._get(f"read {symbol}'s bars", lambda: self._api.copy_rates_from_pos(
                symbol, convert.TIMEFRAMES[timeframe], 0, count))
            return convert.candles(rates, self.server_time_offset())
