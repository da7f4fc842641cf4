"""A client of the remote simulator that behaves like the ``MetaTrader5`` module.

:class:`RemoteMt5` has every MT5 function with the package's signature; each call goes to the
server named in the state file and comes back as the package's records, ``None`` plus
``last_error()`` included. Transport trouble looks like the package's own IPC failures: a
server that is not running gives ``(-10004, 'No IPC connection')``, a reply that does not
arrive in time ``(-10005, 'IPC timeout')``, a connection that breaks ``(-10002, ...)``. A
request is never sent twice; after a broken connection the next call connects afresh and,
like a restarted terminal, wants ``initialize()`` again.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tnm_desktop.errors import TnmError
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator import wire
from tnm_desktop.terminal.simulator.client_control import RemoteControl
from tnm_desktop.terminal.simulator.store import Endpoint, StateFile

Error = tuple[int, str]
NO_IPC: Error = (mt5.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
IPC_TIMEOUT: Error = (mt5.RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
IPC_SEND: Error = (mt5.RES_E_INTERNAL_FAIL_SEND, "IPC send failed")
IPC_RECEIVE: Error = (mt5.RES_E_INTERNAL_FAIL_RECEIVE, "IPC recv failed")
DENIED: Error = (mt5.RES_E_INTERNAL_FAIL_INIT, "IPC initialize failed, access denied")
# What :meth:`RemoteMt5.ahead` may ask for: calls that change nothing.
READS_AHEAD = frozenset({"account_info", "positions_get", "orders_get", "symbol_info", "symbol_info_tick",
                         "terminal_info"})
_FAILS = {"TypeError": TypeError, "ValueError": ValueError, "KeyError": KeyError, "AttributeError": AttributeError,
          "PermissionError": PermissionError}


@dataclass(frozen=True, slots=True)
class _Connection:
    socket: socket.socket
    reader: BinaryIO
    endpoint: Endpoint


class _Link:
    """The connection to the server, shared by the MT5 calls and the control API."""

    def __init__(self, state_file: StateFile, timeout: float) -> None:
        self.file = state_file
        self.timeout = timeout
        self._connection: _Connection | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.reader.close()
            self._connection.socket.close()
        self._connection = None

    def _connect(self) -> _Connection:
        endpoint = self.file.endpoint()  # read each time: a restarted server has a new port and token
        if endpoint is None:
            raise ConnectionRefusedError("no simulator serves this state file")
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=self.timeout)
        self._connection = _Connection(sock, sock.makefile("rb"), endpoint)
        return self._connection

    def call(self, target: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Error]:
        """Send one request; return its answer, or an IPC error (then nothing can be assumed about the call)."""
        replies = self.exchange(target, [(method, args, kwargs)])
        if isinstance(replies, tuple):
            return None, replies
        return self.answer(replies[0])

    def exchange(self, target: str, calls: Sequence[tuple[str, tuple[Any, ...], dict[str, Any]]]
                 ) -> list[dict[str, Any]] | Error:
        """Send the requests at once and read their replies, in order; an IPC error if any is lost."""
        with self._lock:
            try:
                connection = self._connection or self._connect()
            except (OSError, ValueError, TnmError):  # no server, or a state file no server could use
                self._drop()
                return NO_IPC
            lines = b"".join(json.dumps(
                {"id": next(self._ids), "token": connection.endpoint.token, "target": target, "method": method,
                 "args": [wire.encode(a) for a in args],
                 "kwargs": {k: wire.encode(v) for k, v in kwargs.items() if v is not None}},
                separators=(",", ":")).encode() + b"\n" for method, args, kwargs in calls)
            try:
                connection.socket.sendall(lines)
            except TimeoutError:
                self._drop()
                return IPC_TIMEOUT
            except OSError:
                self._drop()
                return IPC_SEND
            replies = []
            for _ in calls:
                try:
                    line = connection.reader.readline(wire.MAX_LINE + 1)
                except TimeoutError:
                    self._drop()
                    return IPC_TIMEOUT
                except OSError:
                    line = b""
                if not line:
                    self._drop()
                    return IPC_RECEIVE
                replies.append(json.loads(line))
            return replies

    def answer(self, reply: dict[str, Any]) -> tuple[Any, Error]:
        """A reply as the package answers: its value and ``last_error``, or the exception it raised."""
        fail = reply.get("fail")
        if fail is not None:
            if fail.get("type") == "PermissionError":
                self.close()
            raise _FAILS.get(str(fail.get("type")), RuntimeError)(str(fail.get("message")))
        error = reply.get("last_error") or [mt5.RES_S_OK, "Success"]
        return wire.decode(reply.get("value")), (int(error[0]), str(error[1]))


class RemoteMt5:
    """The ``MetaTrader5`` API of a simulator running as its own process, found through its state file.

    Args:
        state_file: The file the server was started with (``simulator serve --state FILE``).
        timeout: Seconds to wait for connecting and for each answer.
    """

    def __init__(self, state_file: Path | str, *, timeout: float = 10.0) -> None:
        self._link = _Link(StateFile(state_file), timeout)
        self._error: Error = (mt5.RES_S_OK, "Success")
        self.control = RemoteControl(self._link)
        # Replies asked for ahead (:meth:`ahead`): ((method, args), reply), next first.
        self._ahead: deque[tuple[tuple[str, tuple[Any, ...]], dict[str, Any]]] = deque()

    def __repr__(self) -> str:
        return f"RemoteMt5({str(self._link.file.path)!r})"

    def close(self) -> None:
        """Close the connection (the server and its state carry on)."""
        self._ahead.clear()
        self._link.close()

    def __enter__(self) -> RemoteMt5:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def ahead(self, calls: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        """Ask the server for several reads in one trip (not a function of the package).

        Each answer is kept for the same call (same method and arguments, no keyword arguments)
        made next, in this order; any other call drops what is left, so an answer is never used
        out of turn. When the trip fails nothing is kept, and the calls make their own.
        """
        if any(method not in READS_AHEAD for method, _ in calls):
            raise ValueError(f"only reads can be asked for ahead: {sorted(READS_AHEAD)}")
        self._ahead.clear()
        replies = self._link.exchange("mt5", [(method, args, {}) for method, args in calls])
        if not isinstance(replies, tuple):
            self._ahead.extend(zip(calls, replies, strict=True))

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Error]:
        if self._ahead:
            asked, reply = self._ahead.popleft()
            if asked == (method, args) and all(v is None for v in kwargs.values()):
                return self._link.answer(reply)
            self._ahead.clear()
        return self._link.call("mt5", method, args, kwargs)

    def _mt5(self, method: str, *args: Any, failure: Any = None, **kwargs: Any) -> Any:
        try:
            value, self._error = self._call(method, args, kwargs)
        except PermissionError:
            self._error = DENIED
            return failure
        return failure if value is None and self._error[0] != mt5.RES_S_OK else value

    def initialize(self, path: str | None = None, *, login: int | None = None, password: str | None = None,
                   server: str | None = None, timeout: int | None = None, portable: bool = False) -> bool:
        """Connect to the terminal (see the package's ``initialize``)."""
        return bool(self._mt5("initialize", path, login=login, password=password, server=server, timeout=timeout,
                              portable=portable or None, failure=False))

    def login(self, login: int, *, password: str | None = None, server: str | None = None,
              timeout: int | None = None) -> bool:
        """Log in to ``login``."""
        return bool(self._mt5("login", login, password=password, server=server, timeout=timeout, failure=False))

    def shutdown(self) -> None:
        """Close this session."""
        self._mt5("shutdown")
        self._link.close()

    def version(self) -> tuple[int, int, str] | None:
        """Return the terminal's version."""
        result: tuple[int, int, str] | None = self._mt5("version")
        return result

    def last_error(self) -> tuple[int, str]:
        """Return the outcome of the last call."""
        return self._error

    def terminal_info(self) -> mt5.TerminalInfo | None:
        """Return the terminal's state."""
        result: mt5.TerminalInfo | None = self._mt5("terminal_info")
        return result

    def account_info(self) -> mt5.AccountInfo | None:
        """Return the account."""
        result: mt5.AccountInfo | None = self._mt5("account_info")
        return result

    def symbol_info(self, symbol: str) -> mt5.SymbolInfo | None:
        """Return a symbol's contract data."""
        result: mt5.SymbolInfo | None = self._mt5("symbol_info", symbol)
        return result

    def symbol_info_tick(self, symbol: str) -> mt5.Tick | None:
        """Return a symbol's last tick."""
        result: mt5.Tick | None = self._mt5("symbol_info_tick", symbol)
        return result

    def symbol_select(self, symbol: str, enable: bool | None = None) -> bool:
        """Show or hide a symbol in Market Watch."""
        return bool(self._mt5("symbol_select", symbol, bool(enable), failure=False))

    def symbols_get(self, group: str | None = None) -> tuple[mt5.SymbolInfo, ...] | None:
        """Return the symbols passing the group mask."""
        result: tuple[mt5.SymbolInfo, ...] | None = self._mt5("symbols_get", group=group)
        return result

    def symbols_total(self) -> int | None:
        """Return the number of symbols."""
        result: int | None = self._mt5("symbols_total")
        return result

    def copy_rates_from_pos(self, symbol: str, timeframe: int, start_pos: int, count: int) -> mt5.Rates | None:
        """Return bars by position."""
        result: mt5.Rates | None = self._mt5("copy_rates_from_pos", symbol, timeframe, start_pos, count)
        return result

    def copy_rates_from(self, symbol: str, timeframe: int, date_from: mt5.DateLike, count: int) -> mt5.Rates | None:
        """Return bars ending at a date."""
        result: mt5.Rates | None = self._mt5("copy_rates_from", symbol, timeframe, date_from, count)
        return result

    def copy_rates_range(self, symbol: str, timeframe: int, date_from: mt5.DateLike,
                         date_to: mt5.DateLike) -> mt5.Rates | None:
        """Return bars in a date range."""
        result: mt5.Rates | None = self._mt5("copy_rates_range", symbol, timeframe, date_from, date_to)
        return result

    def copy_ticks_from(self, symbol: str, date_from: mt5.DateLike, count: int, flags: int) -> mt5.Rates | None:
        """Return ticks from a date."""
        result: mt5.Rates | None = self._mt5("copy_ticks_from", symbol, date_from, count, flags)
        return result

    def copy_ticks_range(self, symbol: str, date_from: mt5.DateLike, date_to: mt5.DateLike,
                         flags: int) -> mt5.Rates | None:
        """Return ticks in a date range."""
        result: mt5.Rates | None = self._mt5("copy_ticks_range", symbol, date_from, date_to, flags)
        return result

    def positions_total(self) -> int | None:
        """Return the number of open positions."""
        result: int | None = self._mt5("positions_total")
        return result

    def positions_get(self, *, symbol: str | None = None, group: str | None = None,
                      ticket: int | None = None) -> tuple[mt5.TradePosition, ...] | None:
        """Return open positions."""
        result: tuple[mt5.TradePosition, ...] | None = self._mt5("positions_get", symbol=symbol, group=group,
                                                                 ticket=ticket)
        return result

    def orders_total(self) -> int | None:
        """Return the number of pending orders."""
        result: int | None = self._mt5("orders_total")
        return result

    def orders_get(self, *, symbol: str | None = None, group: str | None = None,
                   ticket: int | None = None) -> tuple[mt5.TradeOrder, ...] | None:
        """Return pending orders."""
        result: tuple[mt5.TradeOrder, ...] | None = self._mt5("orders_get", symbol=symbol, group=group, ticket=ticket)
        return result

    def history_orders_total(self, date_from: mt5.DateLike, date_to: mt5.DateLike) -> int | None:
        """Return the number of history orders in a window."""
        result: int | None = self._mt5("history_orders_total", date_from, date_to)
        return result

    def history_orders_get(self, date_from: mt5.DateLike | None = None, date_to: mt5.DateLike | None = None, *,
                           group: str | None = None, ticket: int | None = None,
                           position: int | None = None) -> tuple[mt5.TradeOrder, ...] | None:
        """Return history orders."""
        args = () if date_from is None and date_to is None else (date_from, date_to)
        result: tuple[mt5.TradeOrder, ...] | None = self._mt5("history_orders_get", *args, group=group,
                                                              ticket=ticket, position=position)
        return result

    def history_deals_total(self, date_from: mt5.DateLike, date_to: mt5.DateLike) -> int | None:
        """Return the number of deals in a window."""
        result: int | None = self._mt5("history_deals_total", date_from, date_to)
        return result

    def history_deals_get(self, date_from: mt5.DateLike | None = None, date_to: mt5.DateLike | None = None, *,
                          group: str | None = None, ticket: int | None = None,
                          position: int | None = None) -> tuple[mt5.TradeDeal, ...] | None:
        """Return deals."""
        args = () if date_from is None and date_to is None else (date_from, date_to)
        result: tuple[mt5.TradeDeal, ...] | None = self._mt5("history_deals_get", *args, group=group, ticket=ticket,
                                                             position=position)
        return result

    def order_check(self, request: Mapping[str, Any]) -> mt5.OrderCheckResult | None:
        """Check a request without sending it."""
        result: mt5.OrderCheckResult | None = self._mt5("order_check", dict(request))
        return result

    def order_send(self, request: Mapping[str, Any]) -> mt5.OrderSendResult | None:
        """Send a trade request."""
        result: mt5.OrderSendResult | None = self._mt5("order_send", dict(request))
        return result

    def order_calc_margin(self, action: int, symbol: str, volume: float, price: float) -> float | None:
        """Return the margin an order needs."""
        result: float | None = self._mt5("order_calc_margin", action, symbol, volume, price)
        return result

    def order_calc_profit(self, action: int, symbol: str, volume: float, price_open: float,
                          price_close: float) -> float | None:
        """Return a trade's profit."""
        result: float | None = self._mt5("order_calc_profit", action, symbol, volume, price_open, price_close)
        return result
