"""The control API of a remote simulator, forwarded over the client's connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tnm_desktop.terminal import mt5api as mt5

if TYPE_CHECKING:
    from tnm_desktop.terminal.simulator.client import _Link


class RemoteControl:
    """:class:`~tnm_desktop.terminal.simulator.control.SimulatorControl` over the wire.

    Raises:
        ConnectionError: from any method, when the simulator cannot be reached.
    """

    def __init__(self, link: _Link) -> None:
        self._link = link

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        value, error = self._link.call("control", method, args, kwargs)
        if error[0] != mt5.RES_S_OK:
            raise ConnectionError(f"the simulator did not answer {method}: {error[1]}")
        return value

    def inject_fault(self, kind: str, *, symbol: str | None = None, function: str = "order_send", count: int = 1,
                     retcode: int | None = None, message: str | None = None, volume: float | None = None,
                     filled: bool = False) -> None:
        """Program a fault for the next ``count`` matching calls."""
        self._call("inject_fault", kind, symbol=symbol, function=function, count=count, retcode=retcode,
                   message=message, volume=volume, filled=filled)

    def clear_faults(self) -> None:
        """Forget every programmed fault."""
        self._call("clear_faults")

    def faults(self) -> list[dict[str, Any]]:
        """Return the faults still programmed."""
        result: list[dict[str, Any]] = self._call("faults")
        return result

    def set_price(self, symbol: str, bid: float) -> float:
        """Move the bid of ``symbol`` now; return it."""
        return float(self._call("set_price", symbol, bid))

    def step_price(self, symbol: str, points: float) -> float:
        """Move the bid by ``points``; return it."""
        return float(self._call("step_price", symbol, points))

    def hold_price(self, symbol: str, bid: float) -> float:
        """Hold the bid of ``symbol`` at exactly ``bid``; return it."""
        return float(self._call("hold_price", symbol, bid))

    def release_price(self, symbol: str) -> float:
        """Let a held bid wander again; return it."""
        return float(self._call("release_price", symbol))

    def quote(self, symbol: str) -> tuple[float, float]:
        """Return ``(bid, ask)`` now."""
        bid, ask = self._call("quote", symbol)
        return float(bid), float(ask)

    def advance_time(self, seconds: float) -> int:
        """Move the clock forward; return the UTC milliseconds now."""
        return int(self._call("advance_time", seconds))

    def set_manual_clock(self, manual: bool) -> None:
        """Freeze the clock or let it follow the wall clock."""
        self._call("set_manual_clock", manual)

    def now_ms(self) -> int:
        """Return the simulator's time in UTC milliseconds."""
        return int(self._call("now_ms"))

    def server_offset(self) -> int:
        """Return the trade server's offset from UTC in seconds."""
        return int(self._call("server_offset"))

    def set_trade_allowed(self, allowed: bool) -> None:
        """Press the Algo Trading button."""
        self._call("set_trade_allowed", allowed)

    def set_connected(self, connected: bool) -> None:
        """Connect or cut the link to the trade server."""
        self._call("set_connected", connected)

    def set_logged_in(self, logged_in: bool) -> None:
        """Log the terminal in or out."""
        self._call("set_logged_in", logged_in)

    def disconnect(self) -> None:
        """Drop the terminal."""
        self._call("disconnect")

    def reconnect(self) -> None:
        """Bring the terminal back."""
        self._call("reconnect")

    def set_market_open(self, symbol: str, is_open: bool) -> None:
        """Open or close a market."""
        self._call("set_market_open", symbol, is_open)

    def deposit(self, amount: float, comment: str = "Deposit") -> None:
        """Book a balance operation."""
        self._call("deposit", amount, comment)
