"""The connection test a trader runs before the agent trades: through the terminal port, what the
account is, whether algo trading is on, and the broker's symbol suffix.

Failures come back as the adapter raises them (:class:`~tnm_desktop.errors.TnmError` with a
sentence for the trader): the terminal not found or not answering, a refused login.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tnm_desktop.terminal.port import AccountMode, ConnectSettings, TerminalPort

# Symbols every retail broker lists; their names at the broker show its suffix (EURUSD.m → ".m").
_MAJORS = ("EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF", "USDCAD", "NZDUSD", "XAUUSD")


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """What the connection test found.

    Attributes:
        login: The account number.
        server: The trade server.
        company: The broker.
        name: The account holder.
        currency: The deposit currency.
        balance: The balance now.
        leverage: The account's leverage (100 for 1:100).
        mode: Demo, contest or real money.
        connected: Whether the terminal is connected to the broker's trade server.
        algo_trading: Whether the terminal's Algo Trading button is on (orders from the agent
            are refused while it is off).
        suffix: What the broker adds to symbol names ("" when nothing).
        symbols: How many symbols the broker offers.
    """

    login: int
    server: str
    company: str
    name: str
    currency: str
    balance: float
    leverage: int
    mode: AccountMode
    connected: bool
    algo_trading: bool
    suffix: str
    symbols: int

    @property
    def live(self) -> bool:
        """Whether this account trades real money (anything but demo and contest)."""
        return self.mode is AccountMode.REAL


def symbol_suffix(names: tuple[str, ...] | list[str]) -> str:
    """The suffix the broker adds to the major pairs' names ("" when they appear plain).

    The most common one among the majors found wins (a broker may list a few variants).
    """
    suffixes: Counter[str] = Counter()
    plain = set(names)
    for major in _MAJORS:
        if major in plain:
            suffixes[""] += 1
            continue
        for name in names:
            if name.upper().startswith(major) and len(name) > len(major):
                suffixes[name[len(major):]] += 1
                break
    return suffixes.most_common(1)[0][0] if suffixes else ""


def check_connection(terminal: TerminalPort, settings: ConnectSettings) -> ConnectionCheck:
    """Connect with ``settings`` (logging in when they name an account) and report what is there.

    Blocks: call it off the GUI thread.

    Raises:
        TnmError: The terminal cannot be reached, or refuses the login; the message says what to do.
    """
    status = terminal.connect(settings)
    account = terminal.account()
    names = terminal.symbol_names()
    return ConnectionCheck(
        login=account.login, server=account.server, company=account.company, name=account.name,
        currency=account.currency, balance=account.balance, leverage=account.leverage, mode=account.mode,
        connected=status.connected, algo_trading=status.trade_allowed, suffix=symbol_suffix(names),
        symbols=len(names))
