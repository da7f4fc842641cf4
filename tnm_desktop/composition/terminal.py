"""Choosing the terminal adapter: the real MetaTrader 5, ``mt5linux``, or a simulator.

``MetaTrader5`` (Windows-only) and ``mt5linux`` are imported only when asked for, so the rest
of the program runs anywhere.
"""

from __future__ import annotations

import importlib
import ipaddress
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import cast

from tnm_desktop.errors import OperationalError, UserError
from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.mt5_adapter import Mt5Terminal, load_metatrader5, utc_now
from tnm_desktop.terminal.port import ConnectSettings


class TerminalKind(StrEnum):
    """Which terminal to drive."""

    AUTO = "auto"  # MetaTrader 5 on Windows; elsewhere the remote simulator if a state file is set, else in-process
    METATRADER5 = "metatrader5"  # the official package, on Windows
    MT5LINUX = "mt5linux"  # the official package under Wine, through an mt5linux server on this machine
    REMOTE_SIMULATOR = "remote-simulator"  # ``tnm-desktop simulator serve --state FILE``
    SIMULATOR = "simulator"  # in this process, in memory


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    """How to reach the terminal.

    Attributes:
        kind: Which terminal (see :class:`TerminalKind`).
        settings: Terminal path and account for ``initialize``.
        mt5linux_host: Where the ``mt5linux`` server listens: loopback only.
        mt5linux_port: Its port.
        state_file: The remote simulator's state file.
        server_offset: The trade server's offset from UTC, when known (otherwise measured).
    """

    kind: TerminalKind = TerminalKind.AUTO
    settings: ConnectSettings = field(default_factory=ConnectSettings)
    mt5linux_host: str = "127.0.0.1"
    mt5linux_port: int = 18812
    state_file: Path | None = None
    server_offset: timedelta | None = None


def resolve_kind(config: TerminalConfig) -> TerminalKind:
    """Return the concrete kind ``AUTO`` stands for on this machine."""
    if config.kind is not TerminalKind.AUTO:
        return config.kind
    if sys.platform == "win32":
        return TerminalKind.METATRADER5
    return TerminalKind.REMOTE_SIMULATOR if config.state_file is not None else TerminalKind.SIMULATOR


def _require_loopback(host: str) -> None:
    # The mt5linux (RPyC) server executes whatever Python it is sent: anyone who can reach it
    # owns the machine and the trading account. It must only ever listen on, and be used over,
    # this machine's loopback interface.
    try:
        address = ipaddress.ip_address(socket.gethostbyname(host))
    except (OSError, ValueError) as exc:
        raise UserError(f"Cannot resolve the mt5linux host {host!r}.", code="mt5linux_host") from exc
    if not address.is_loopback:
        raise UserError(f"mt5linux must run on this machine (127.0.0.1), not on {host}: its server runs any code "
                        "it is sent.", code="mt5linux_not_loopback")


def load_api(config: TerminalConfig) -> mt5.Mt5Api:
    """Return the object with the MetaTrader5 API that ``config`` names.

    Raises:
        OperationalError: the package needed is not installed.
        UserError: the configuration is incomplete or unsafe.
    """
    kind = resolve_kind(config)
    if kind is TerminalKind.METATRADER5:
        return load_metatrader5()
    if kind is TerminalKind.MT5LINUX:
        _require_loopback(config.mt5linux_host)
        try:
            module = importlib.import_module("mt5linux")
        except ImportError as exc:
            raise OperationalError("The mt5linux package is not installed: pip install mt5linux.",
                                   code="mt5linux_missing") from exc
        return cast(mt5.Mt5Api, module.MetaTrader5(host=config.mt5linux_host, port=config.mt5linux_port))
    if kind is TerminalKind.REMOTE_SIMULATOR:
        if config.state_file is None:
            raise UserError("The remote simulator needs its state file.", code="simulator_state_missing")
        from tnm_desktop.terminal.simulator.client import RemoteMt5

        return RemoteMt5(config.state_file)
    from tnm_desktop.terminal.simulator.api import SimulatedMt5

    return SimulatedMt5()


def open_terminal(config: TerminalConfig | None = None, *, clock: Callable[[], datetime] = utc_now) -> Mt5Terminal:
    """Return the terminal adapter for ``config`` (not connected yet: it connects on first use).

    ``clock`` is the current UTC time; a simulator with a frozen clock needs its own here.
    """
    config = config or TerminalConfig()
    return Mt5Terminal(load_api(config), settings=config.settings, server_offset=config.server_offset, clock=clock)
