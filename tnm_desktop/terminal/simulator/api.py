"""The ``MetaTrader5`` module's API over the simulator engine: :class:`SimulatedMt5`.

Same names, same positional and keyword arguments, the package's named tuples and NumPy
arrays, ``None`` plus ``last_error()`` on failure. Code written against ``import MetaTrader5 as
mt5`` runs unchanged against an instance. Each instance is one caller's connection to the
terminal: it must ``initialize()`` first and again after the terminal dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator import feed, history, money, views
from tnm_desktop.terminal.simulator.broker import Broker
from tnm_desktop.terminal.simulator.catalog import SymbolSpec
from tnm_desktop.terminal.simulator.control import LocalControl
from tnm_desktop.terminal.simulator.engine import Engine, Error, Reply, wall_ms
from tnm_desktop.terminal.simulator.model import SimState, new_state
from tnm_desktop.terminal.simulator.requests import RequestError, parse_request

OK: Error = (mt5.RES_S_OK, "Success")
_INVALID = RequestError(mt5.RES_E_INVALID_PARAMS, "Invalid arguments")


def _number(value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _INVALID
    return value.item() if isinstance(value, (np.integer, np.floating)) else value


def _server_seconds(value: object) -> int:
    # Dates compare with server times as given: a datetime by its POSIX timestamp (a naive one in
    # local time, as the package does), a number as seconds since 1970.
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(_number(value))


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _INVALID
    return value


def _whole(value: object) -> int:
    number = _number(value)
    if not isinstance(number, int):
        raise _INVALID
    return number


def _real(value: object) -> float:
    return float(_number(value))


def _symbol(broker: Broker, name: object) -> SymbolSpec:
    spec = broker.state.spec(_text(name))
    if spec is None:
        raise RequestError(mt5.RES_E_NOT_FOUND, "Terminal: Not found")
    return spec


def _timeframe(value: object) -> int:
    timeframe = _whole(value)
    if timeframe not in feed.TIMEFRAMES:
        raise _INVALID
    return timeframe


class SimulatedMt5:
    """A simulated ``MetaTrader5`` module (one caller's session) with a ``control`` attribute.

    Args:
        engine: The terminal to talk to; a fresh one with the default account if omitted.
        state: The books for a fresh engine (ignored when ``engine`` is given).
    """

    def __init__(self, engine: Engine | None = None, *, state: SimState | None = None) -> None:
        self.engine = engine or Engine(state or new_state(now_ms=wall_ms()))
        self.control = LocalControl(self.engine)
        self._generation: int | None = None
        self._error: Error = OK
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SimulatedMt5(login={self.engine.state.account.login}, server={self.engine.state.account.server!r})"

    def _finish(self, reply: Reply, failure: Any = None) -> Any:
        self._error = reply.error or OK
        return failure if reply.error is not None else reply.value

    def _call(self, function: str, body: Callable[[Broker], Any], *, symbol: object = None, mutates: bool = False,
              needs_login: bool = False, failure: Any = None) -> Any:
        with self._lock:
            reply = self.engine.run(function, body, generation=self._generation,
                                    symbol=symbol if isinstance(symbol, str) else None, mutates=mutates,
                                    needs_login=needs_login)
            return self._finish(reply, failure)

    # -- connection ------------------------------------------------------------------------

    def initialize(self, path: str | None = None, *, login: int | None = None, password: str | None = None,
                   server: str | None = None, timeout: int | None = None, portable: bool = False) -> bool:
        """Connect to the terminal (and log in to ``login`` when given); any password is accepted."""
        with self._lock:
            reply = self.engine.attach(login, server)
            if reply.error is None:
                self._generation = reply.value
            self._finish(reply)
            return reply.error is None

    def login(self, login: int, *, password: str | None = None, server: str | None = None,
              timeout: int | None = None) -> bool:
        """Log the connected terminal in to ``login``."""
        with self._lock:
            terminal = self.engine.state.terminal
            if self._generation is None or not terminal.ipc_up or self._generation != terminal.generation:
                self._error = (mt5.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
                return False
            reply = self.engine.attach(login, server)
            self._finish(reply)
            return reply.error is None

    def shutdown(self) -> None:
        """Close this caller's connection to the terminal."""
        with self._lock:
            self._generation = None

    def version(self) -> tuple[int, int, str] | None:
        """Return ``(500, build, build date)``."""
        result: tuple[int, int, str] | None = self._call("version", lambda _b: views.VERSION)
        return result

    def last_error(self) -> tuple[int, str]:
        """Return the outcome of the last call: ``(code, message)``."""
        return self._error

    def terminal_info(self) -> mt5.TerminalInfo | None:
        """Return the terminal's state (``connected``, ``trade_allowed``, ...)."""
        result: mt5.TerminalInfo | None = self._call("terminal_info", lambda b: views.terminal_record(b.state))
        return result

    def account_info(self) -> mt5.AccountInfo | None:
        """Return the account (``None`` while the terminal is not logged in)."""
        result: mt5.AccountInfo | None = self._call("account_info", views.account_record, needs_login=True)
        return result

    # -- symbols ---------------------------------------------------------------------------

    def symbol_info(self, symbol: str) -> mt5.SymbolInfo | None:
        """Return a symbol's contract data (prices only when it is in Market Watch)."""
        result: mt5.SymbolInfo | None = self._call(
            "symbol_info", lambda b: views.symbol_record(b, _symbol(b, symbol)), symbol=symbol)
        return result

    def symbol_info_tick(self, symbol: str) -> mt5.Tick | None:
        """Return a symbol's last tick; the symbol must be selected in Market Watch."""
        def body(broker: Broker) -> mt5.Tick:
            spec = _symbol(broker, symbol)
            if spec.name not in broker.state.selected:
                raise RequestError(mt5.RES_E_FAIL, "Terminal: Call failed")
            return views.tick_record(broker, spec)

        result: mt5.Tick | None = self._call("symbol_info_tick", body, symbol=symbol)
        return result

    def symbol_select(self, symbol: str, enable: bool | None = None) -> bool:
        """Show (``enable``) or hide a symbol in Market Watch; hiding fails while it has positions or orders."""
        def body(broker: Broker) -> bool:
            spec = _symbol(broker, symbol)
            selected = broker.state.selected
            if enable and spec.name not in selected:
                selected.append(spec.name)
            elif not enable and spec.name in selected:
                if any(p.symbol == spec.name for p in broker.state.positions) or any(
                        o.symbol == spec.name for o in broker.state.orders):
                    raise RequestError(mt5.RES_E_FAIL, "Terminal: Call failed")
                selected.remove(spec.name)
            return True

        return bool(self._call("symbol_select", body, symbol=symbol, mutates=True, failure=False))

    def symbols_get(self, group: str | None = None) -> tuple[mt5.SymbolInfo, ...] | None:
        """Return every symbol passing the group mask."""
        result: tuple[mt5.SymbolInfo, ...] | None = self._call("symbols_get", lambda b: tuple(
            views.symbol_record(b, s) for s in b.state.symbols
            if views.match_group(s.name, None if group is None else _text(group))))
        return result

    def symbols_total(self) -> int | None:
        """Return how many symbols the terminal knows."""
        result: int | None = self._call("symbols_total", lambda b: len(b.state.symbols))
        return result

    # -- bars and ticks --------------------------------------------------------------------

    def copy_rates_from_pos(self, symbol: str, timeframe: int, start_pos: int, count: int) -> mt5.Rates | None:
        """Return ``count`` bars ending ``start_pos`` bars back from the current one, oldest first."""
        result: mt5.Rates | None = self._call("copy_rates_from_pos", lambda b: history.rates_from_pos(
            b, _symbol(b, symbol), _timeframe(timeframe), _whole(start_pos), _whole(count)), symbol=symbol)
        return result

    def copy_rates_from(self, symbol: str, timeframe: int, date_from: mt5.DateLike, count: int) -> mt5.Rates | None:
        """Return ``count`` bars ending with the bar open at ``date_from`` (server time)."""
        result: mt5.Rates | None = self._call("copy_rates_from", lambda b: history.rates_from(
            b, _symbol(b, symbol), _timeframe(timeframe), _server_seconds(date_from), _whole(count)), symbol=symbol)
        return result

    def copy_rates_range(self, symbol: str, timeframe: int, date_from: mt5.DateLike,
                         date_to: mt5.DateLike) -> mt5.Rates | None:
        """Return the bars opening between ``date_from`` and ``date_to`` (server time)."""
        result: mt5.Rates | None = self._call("copy_rates_range", lambda b: history.rates_range(
            b, _symbol(b, symbol), _timeframe(timeframe), _server_seconds(date_from), _server_seconds(date_to)),
            symbol=symbol)
        return result

    def copy_ticks_from(self, symbol: str, date_from: mt5.DateLike, count: int, flags: int) -> mt5.Rates | None:
        """Return up to ``count`` ticks from ``date_from`` on."""
        result: mt5.Rates | None = self._call("copy_ticks_from", lambda b: history.ticks_from(
            b, _symbol(b, symbol), _server_seconds(date_from), _whole(count)), symbol=symbol)
        return result

    def copy_ticks_range(self, symbol: str, date_from: mt5.DateLike, date_to: mt5.DateLike,
                         flags: int) -> mt5.Rates | None:
        """Return the ticks between ``date_from`` and ``date_to``."""
        result: mt5.Rates | None = self._call("copy_ticks_range", lambda b: history.ticks_range(
            b, _symbol(b, symbol), _server_seconds(date_from), _server_seconds(date_to)), symbol=symbol)
        return result

    # -- positions and orders --------------------------------------------------------------

    def positions_total(self) -> int | None:
        """Return the number of open positions."""
        result: int | None = self._call("positions_total", lambda b: len(b.state.positions), needs_login=True)
        return result

    def positions_get(self, *, symbol: str | None = None, group: str | None = None,
                      ticket: int | None = None) -> tuple[mt5.TradePosition, ...] | None:
        """Return open positions, filtered by symbol, group mask or ticket."""
        def body(broker: Broker) -> tuple[mt5.TradePosition, ...]:
            name = None if symbol is None else _text(symbol)
            number = None if ticket is None else _whole(ticket)
            return tuple(views.position_record(broker, p) for p in broker.state.positions
                         if (name is None or p.symbol == name) and (number is None or p.ticket == number)
                         and views.match_group(p.symbol, group))

        result: tuple[mt5.TradePosition, ...] | None = self._call("positions_get", body, symbol=symbol,
                                                                  needs_login=True)
        return result

    def orders_total(self) -> int | None:
        """Return the number of pending orders."""
        result: int | None = self._call("orders_total", lambda b: len(b.state.orders), needs_login=True)
        return result

    def orders_get(self, *, symbol: str | None = None, group: str | None = None,
                   ticket: int | None = None) -> tuple[mt5.TradeOrder, ...] | None:
        """Return pending orders, filtered by symbol, group mask or ticket."""
        def body(broker: Broker) -> tuple[mt5.TradeOrder, ...]:
            name = None if symbol is None else _text(symbol)
            number = None if ticket is None else _whole(ticket)
            return tuple(views.order_record(broker, o, active=True) for o in broker.state.orders
                         if (name is None or o.symbol == name) and (number is None or o.ticket == number)
                         and views.match_group(o.symbol, group))

        result: tuple[mt5.TradeOrder, ...] | None = self._call("orders_get", body, symbol=symbol, needs_login=True)
        return result

    # -- history ---------------------------------------------------------------------------

    def history_orders_total(self, date_from: mt5.DateLike, date_to: mt5.DateLike) -> int | None:
        """Return how many history orders were set up between the dates (server time)."""
        def body(broker: Broker) -> int:
            first, last = _server_seconds(date_from), _server_seconds(date_to)
            return sum(1 for o in broker.state.history_orders
                       if first <= views.server_s(broker.state, o.time_setup_msc) <= last)

        result: int | None = self._call("history_orders_total", body, needs_login=True)
        return result

    def history_orders_get(self, date_from: mt5.DateLike | None = None, date_to: mt5.DateLike | None = None, *,
                           group: str | None = None, ticket: int | None = None,
                           position: int | None = None) -> tuple[mt5.TradeOrder, ...] | None:
        """Return history orders by time window (server time, optional group mask), ``ticket`` or ``position``."""
        def body(broker: Broker) -> tuple[mt5.TradeOrder, ...]:
            orders = broker.state.history_orders
            if ticket is not None:
                chosen = self.engine.lookup.orders(broker.state, ticket=_whole(ticket))
            elif position is not None:
                chosen = self.engine.lookup.orders(broker.state, position=_whole(position))
            elif date_from is not None and date_to is not None:
                first, last = _server_seconds(date_from), _server_seconds(date_to)
                chosen = [o for o in orders if first <= views.server_s(broker.state, o.time_setup_msc) <= last
                          and views.match_group(o.symbol, group)]
            else:
                raise _INVALID
            return tuple(views.order_record(broker, o, active=False) for o in chosen)

        result: tuple[mt5.TradeOrder, ...] | None = self._call("history_orders_get", body, needs_login=True)
        return result

    def history_deals_total(self, date_from: mt5.DateLike, date_to: mt5.DateLike) -> int | None:
        """Return how many deals were done between the dates (server time)."""
        def body(broker: Broker) -> int:
            first, last = _server_seconds(date_from), _server_seconds(date_to)
            return sum(1 for d in broker.state.deals if first <= views.server_s(broker.state, d.time_msc) <= last)

        result: int | None = self._call("history_deals_total", body, needs_login=True)
        return result

    def history_deals_get(self, date_from: mt5.DateLike | None = None, date_to: mt5.DateLike | None = None, *,
                          group: str | None = None, ticket: int | None = None,
                          position: int | None = None) -> tuple[mt5.TradeDeal, ...] | None:
        """Return deals by time window (server time, optional group mask), order ``ticket`` or ``position``.

        As in MT5, ``ticket`` selects the deals of that order (``DEAL_ORDER``), not a deal ticket.
        """
        def body(broker: Broker) -> tuple[mt5.TradeDeal, ...]:
            deals = broker.state.deals
            if ticket is not None:
                chosen = self.engine.lookup.deals(broker.state, order=_whole(ticket))
            elif position is not None:
                chosen = self.engine.lookup.deals(broker.state, position=_whole(position))
            elif date_from is not None and date_to is not None:
                first, last = _server_seconds(date_from), _server_seconds(date_to)
                chosen = [d for d in deals if first <= views.server_s(broker.state, d.time_msc) <= last
                          and views.match_group(d.symbol, group)]
            else:
                raise _INVALID
            return tuple(views.deal_record(broker.state, d) for d in chosen)

        result: tuple[mt5.TradeDeal, ...] | None = self._call("history_deals_get", body, needs_login=True)
        return result

    # -- trading ---------------------------------------------------------------------------

    def order_check(self, request: Mapping[str, Any]) -> mt5.OrderCheckResult | None:
        """Check a request without sending it; ``retcode`` 0 means it would pass."""
        try:
            parsed = parse_request(request)
        except RequestError as refused:
            self._error = (refused.code, refused.message)
            return None
        result: mt5.OrderCheckResult | None = self._call(
            "order_check", lambda b: self.engine.order_check(b, parsed), symbol=parsed.symbol, needs_login=True)
        return result

    def order_send(self, request: Mapping[str, Any]) -> mt5.OrderSendResult | None:
        """Send a trade request to the (simulated) trade server."""
        try:
            parsed = parse_request(request)
        except RequestError as refused:
            self._error = (refused.code, refused.message)
            return None
        result: mt5.OrderSendResult | None = self._call(
            "order_send", lambda b: self.engine.order_send(b, parsed), symbol=parsed.symbol, mutates=True,
            needs_login=True)
        return result

    def order_calc_margin(self, action: int, symbol: str, volume: float, price: float) -> float | None:
        """Return the margin a buy or sell of ``volume`` at ``price`` needs, in the account currency."""
        def body(broker: Broker) -> float:
            if _whole(action) not in (mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL):
                raise _INVALID
            return broker.margin(_symbol(broker, symbol), _real(volume), _real(price))

        result: float | None = self._call("order_calc_margin", body, symbol=symbol, needs_login=True)
        return result

    def order_calc_profit(self, action: int, symbol: str, volume: float, price_open: float,
                          price_close: float) -> float | None:
        """Return the profit of a buy or sell from ``price_open`` to ``price_close``, in the account currency."""
        def body(broker: Broker) -> float:
            if _whole(action) not in (mt5.ORDER_TYPE_BUY, mt5.ORDER_TYPE_SELL):
                raise _INVALID
            spec = _symbol(broker, symbol)
            return money.profit(spec, int(action), _real(volume), _real(price_open), _real(price_close),
                                account=broker.state.account.currency, symbols=broker.state.symbols,
                                quote=broker.quote)

        result: float | None = self._call("order_calc_profit", body, symbol=symbol, needs_login=True)
        return result

