"""The simulator's control API: what a test, the demo or the user does to the market and terminal.

It is separate from the MT5 API on purpose: code under test talks to the MT5 functions only,
and whoever drives the scenario talks to this. Every method takes and returns plain values so
the same calls work over the wire (see :class:`~tnm_desktop.terminal.simulator.client.RemoteMt5`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol

from tnm_desktop.terminal.simulator.engine import Engine
from tnm_desktop.terminal.simulator.model import FaultRec

CONTROL_METHODS: tuple[str, ...] = (
    "inject_fault", "clear_faults", "faults", "set_price", "step_price", "hold_price", "release_price", "quote",
    "advance_time", "set_manual_clock",
    "now_ms", "server_offset", "set_trade_allowed", "set_connected", "set_logged_in", "disconnect", "reconnect",
    "set_market_open", "deposit",
)


class SimulatorControl(Protocol):
    """Drive the simulated market and terminal."""

    def inject_fault(self, kind: str, *, symbol: str | None = None, function: str = "order_send", count: int = 1,
                     retcode: int | None = None, message: str | None = None, volume: float | None = None,
                     filled: bool = False) -> None:
        """Program a fault for the next ``count`` matching calls (kinds: see ``simulator.faults``)."""

    def clear_faults(self) -> None:
        """Forget every programmed fault."""

    def faults(self) -> list[dict[str, Any]]:
        """Return the faults still programmed."""

    def set_price(self, symbol: str, bid: float) -> float:
        """Move the bid of ``symbol`` now (stops and pending orders react); return it."""

    def step_price(self, symbol: str, points: float) -> float:
        """Move the bid by ``points`` (negative: down); return it."""

    def hold_price(self, symbol: str, bid: float) -> float:
        """Hold the bid of ``symbol`` at exactly ``bid`` until moved again or released (a scripted path)."""

    def release_price(self, symbol: str) -> float:
        """Let a held bid wander again from where it is; return it."""

    def quote(self, symbol: str) -> tuple[float, float]:
        """Return ``(bid, ask)`` now, whether or not the symbol is in Market Watch."""

    def advance_time(self, seconds: float) -> int:
        """Move the clock forward; the market plays the time in between. Return the UTC milliseconds now."""

    def set_manual_clock(self, manual: bool) -> None:
        """Stop the clock (it then moves only by ``advance_time``) or let it follow the wall clock again."""

    def now_ms(self) -> int:
        """Return the simulator's time in UTC milliseconds."""

    def server_offset(self) -> int:
        """Return the trade server's offset from UTC in seconds."""

    def set_trade_allowed(self, allowed: bool) -> None:
        """Press the terminal's Algo Trading button."""

    def set_connected(self, connected: bool) -> None:
        """Connect or cut the terminal's link to the trade server."""

    def set_logged_in(self, logged_in: bool) -> None:
        """Log the terminal in to its account or out of it."""

    def disconnect(self) -> None:
        """Drop the terminal: every call fails with an IPC error until :meth:`reconnect`."""

    def reconnect(self) -> None:
        """Bring the terminal back; callers must ``initialize()`` again."""

    def set_market_open(self, symbol: str, is_open: bool) -> None:
        """Open or close the market of ``symbol`` (closed: 10018)."""

    def deposit(self, amount: float, comment: str = "Deposit") -> None:
        """Book a balance operation (negative: a withdrawal)."""


class LocalControl:
    """The control API over an in-process engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def inject_fault(self, kind: str, *, symbol: str | None = None, function: str = "order_send", count: int = 1,
                     retcode: int | None = None, message: str | None = None, volume: float | None = None,
                     filled: bool = False) -> None:
        """Program a fault for the next ``count`` matching calls (kinds: see ``simulator.faults``)."""
        self._engine.inject(FaultRec(kind=kind, function=function, symbol=symbol, count=count, retcode=retcode,
                                     message=message, volume=volume, filled=filled))

    def clear_faults(self) -> None:
        """Forget every programmed fault."""
        self._engine.control(lambda _b: self._engine.state.faults.clear())

    def faults(self) -> list[dict[str, Any]]:
        """Return the faults still programmed."""
        return [asdict(f) for f in self._engine.state.faults]

    def set_price(self, symbol: str, bid: float) -> float:
        """Move the bid of ``symbol`` now (stops and pending orders react); return it."""
        result: float = self._engine.control(lambda b: self._engine.set_price(b, symbol, bid))
        return result

    def step_price(self, symbol: str, points: float) -> float:
        """Move the bid by ``points`` (negative: down); return it."""
        def step(broker: Any) -> float:
            spec = broker.spec(symbol)
            return self._engine.set_price(broker, symbol, round(broker.quote(symbol)[0] + points * spec.point,
                                                                spec.digits))
        result: float = self._engine.control(step)
        return result

    def hold_price(self, symbol: str, bid: float) -> float:
        """Hold the bid of ``symbol`` at exactly ``bid`` until moved again or released (a scripted path)."""
        result: float = self._engine.control(lambda b: self._engine.hold_price(b, symbol, bid))
        return result

    def release_price(self, symbol: str) -> float:
        """Let a held bid wander again from where it is; return it."""
        result: float = self._engine.control(lambda b: self._engine.release_price(b, symbol))
        return result

    def quote(self, symbol: str) -> tuple[float, float]:
        """Return ``(bid, ask)`` now, whether or not the symbol is in Market Watch."""
        result: tuple[float, float] = self._engine.peek(lambda b: b.quote(symbol))
        return result

    def advance_time(self, seconds: float) -> int:
        """Move the clock forward; the market plays the time in between. Return the UTC milliseconds now."""
        if seconds < 0:
            raise ValueError("time only moves forward")

        def move(_broker: Any) -> None:
            clock = self._engine.state.clock
            if clock.manual:
                clock.manual_ms += round(seconds * 1000)
            else:
                clock.offset_ms += round(seconds * 1000)

        self._engine.control(move)
        return self._engine.now_ms()

    def set_manual_clock(self, manual: bool) -> None:
        """Stop the clock (it then moves only by ``advance_time``) or let it follow the wall clock again."""
        def switch(broker: Any) -> None:
            clock = self._engine.state.clock
            if manual and not clock.manual:
                clock.manual_ms = broker.now_ms
            elif not manual and clock.manual:
                clock.offset_ms = clock.manual_ms - self._engine.wall_ms()  # carry on from the frozen moment
            clock.manual = manual

        self._engine.control(switch)

    def now_ms(self) -> int:
        """Return the simulator's time in UTC milliseconds."""
        return self._engine.now_ms()

    def server_offset(self) -> int:
        """Return the trade server's offset from UTC in seconds."""
        return self._engine.state.account.server_offset_s

    def _terminal(self, **switches: bool) -> None:
        def apply(_broker: Any) -> None:
            for name, value in switches.items():
                setattr(self._engine.state.terminal, name, value)

        self._engine.control(apply)

    def set_trade_allowed(self, allowed: bool) -> None:
        """Press the terminal's Algo Trading button."""
        self._terminal(trade_allowed=allowed)

    def set_connected(self, connected: bool) -> None:
        """Connect or cut the terminal's link to the trade server."""
        self._terminal(connected=connected)

    def set_logged_in(self, logged_in: bool) -> None:
        """Log the terminal in to its account or out of it."""
        self._terminal(logged_in=logged_in)

    def disconnect(self) -> None:
        """Drop the terminal: every call fails with an IPC error until :meth:`reconnect`."""
        def drop(_broker: Any) -> None:
            terminal = self._engine.state.terminal
            if terminal.ipc_up:
                terminal.ipc_up = False
                terminal.generation += 1

        self._engine.control(drop)

    def reconnect(self) -> None:
        """Bring the terminal back; callers must ``initialize()`` again."""
        self._terminal(ipc_up=True)

    def set_market_open(self, symbol: str, is_open: bool) -> None:
        """Open or close the market of ``symbol`` (closed: 10018)."""
        def apply(broker: Any) -> None:
            broker.spec(symbol)
            closed = self._engine.state.closed_markets
            if is_open and symbol in closed:
                closed.remove(symbol)
            elif not is_open and symbol not in closed:
                closed.append(symbol)

        self._engine.control(apply)

    def deposit(self, amount: float, comment: str = "Deposit") -> None:
        """Book a balance operation (negative: a withdrawal)."""
        self._engine.control(lambda b: self._engine.deposit(b, amount, comment))
