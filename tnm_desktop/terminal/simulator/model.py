"""The simulator's whole state as plain records, and its JSON form.

Everything a restarted simulator needs is here: the account, the symbols and Market Watch,
open positions, pending orders, history orders and deals, price shifts, the clock, the
terminal's switches and queued faults. Times are UTC milliseconds; the API layer adds the
trade server's offset when it reports them, as the terminal does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from tnm_desktop.terminal import mt5api as mt5
from tnm_desktop.terminal.simulator.catalog import (
    DEFAULT_SELECTED,
    DEFAULT_SYMBOLS,
    AccountSpec,
    SymbolSpec,
)

STATE_VERSION = 1


@dataclass(slots=True)
class PositionRec:
    """An open position (hedging account: one per opening order)."""

    ticket: int
    symbol: str
    type: int
    volume: float
    price_open: float
    sl: float
    tp: float
    magic: int
    comment: str
    time_msc: int
    time_update_msc: int
    reason: int = mt5.POSITION_REASON_EXPERT
    swap: float = 0.0
    external_id: str = ""

    @property
    def identifier(self) -> int:
        """The position id (the ticket of the order that opened it)."""
        return self.ticket


@dataclass(slots=True)
class OrderRec:
    """A pending order, or an order in the history."""

    ticket: int
    symbol: str
    type: int
    state: int
    volume_initial: float
    volume_current: float
    price_open: float
    sl: float
    tp: float
    magic: int
    comment: str
    time_setup_msc: int
    type_filling: int = mt5.ORDER_FILLING_FOK
    type_time: int = mt5.ORDER_TIME_GTC
    time_done_msc: int = 0
    time_expiration: int = 0  # server seconds, as MT5 keeps it
    position_id: int = 0
    position_by_id: int = 0
    reason: int = mt5.ORDER_REASON_EXPERT
    price_current: float = 0.0
    price_stoplimit: float = 0.0
    external_id: str = ""


@dataclass(slots=True)
class DealRec:
    """A deal: an execution that opened or closed (part of) a position, or a balance operation."""

    ticket: int
    order: int
    time_msc: int
    type: int
    entry: int
    magic: int
    position_id: int
    volume: float
    price: float
    profit: float
    symbol: str
    comment: str
    reason: int = mt5.DEAL_REASON_EXPERT
    commission: float = 0.0
    swap: float = 0.0
    fee: float = 0.0
    external_id: str = ""


@dataclass(slots=True)
class FaultRec:
    """A programmed fault: what happens to the next ``count`` matching calls."""

    kind: str
    function: str = "order_send"
    symbol: str | None = None
    count: int = 1
    retcode: int | None = None
    message: str | None = None
    volume: float | None = None
    filled: bool = False


@dataclass(slots=True)
class TerminalRec:
    """The terminal's switches."""

    ipc_up: bool = True  # the terminal process answers (False: every call fails with an IPC error)
    generation: int = 0  # bumped when the terminal drops: callers must initialize() again
    connected: bool = True  # connected to the trade server
    trade_allowed: bool = True  # the "Algo Trading" button
    logged_in: bool = True


@dataclass(slots=True)
class ClockRec:
    """The simulator's clock: the wall clock plus an offset, or a manual clock."""

    manual: bool = False
    offset_ms: int = 0
    manual_ms: int = 0


@dataclass(slots=True)
class SimState:
    """Everything the simulated terminal and its broker know."""

    seed: int
    account: AccountSpec
    balance: float
    symbols: list[SymbolSpec]
    selected: list[str]
    clock: ClockRec = field(default_factory=ClockRec)
    terminal: TerminalRec = field(default_factory=TerminalRec)
    credit: float = 0.0
    closed_markets: list[str] = field(default_factory=list)
    shifts: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    # Held prices per symbol: (moment, bid) holds the bid there, (moment, None) lets it wander again.
    holds: dict[str, list[tuple[int, float | None]]] = field(default_factory=dict)
    positions: list[PositionRec] = field(default_factory=list)
    orders: list[OrderRec] = field(default_factory=list)
    history_orders: list[OrderRec] = field(default_factory=list)
    deals: list[DealRec] = field(default_factory=list)
    faults: list[FaultRec] = field(default_factory=list)
    next_order: int = 60_000_001
    next_deal: int = 40_000_001
    next_request: int = 1
    last_scan_ms: int = 0

    def spec(self, name: str) -> SymbolSpec | None:
        """Return the symbol called ``name`` (exact, as MT5 matches names)."""
        for spec in self.symbols:
            if spec.name == name:
                return spec
        return None

    def take_order_ticket(self) -> int:
        """Return a new order (and position) ticket."""
        self.next_order += 1
        return self.next_order - 1

    def take_deal_ticket(self) -> int:
        """Return a new deal ticket."""
        self.next_deal += 1
        return self.next_deal - 1


def new_state(*, seed: int = 20240601, now_ms: int, account: AccountSpec | None = None,
              symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS, manual_clock: bool = False) -> SimState:
    """Return a fresh account with its initial deposit in the history."""
    account = account or AccountSpec()
    state = SimState(seed=seed, account=account, balance=account.balance, symbols=list(symbols),
                     selected=[s for s in DEFAULT_SELECTED if any(x.name == s for x in symbols)],
                     clock=ClockRec(manual=manual_clock, manual_ms=now_ms), last_scan_ms=now_ms)
    state.deals.append(DealRec(ticket=state.take_deal_ticket(), order=0, time_msc=now_ms, type=mt5.DEAL_TYPE_BALANCE,
                               entry=mt5.DEAL_ENTRY_IN, magic=0, position_id=0, volume=0.0, price=0.0,
                               profit=account.balance, symbol="", comment="Initial deposit",
                               reason=mt5.DEAL_REASON_CLIENT))
    return state


_FIELD_NAMES: dict[type[Any], tuple[str, ...]] = {}


def field_names(cls: type[Any]) -> tuple[str, ...]:
    """Return a record class's field names, in order."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def flat(record: Any) -> dict[str, Any]:
    """Return a record's fields as a dict (``dataclasses.asdict`` without its deep copies).

    Every record below the state holds only numbers, strings, booleans and None, so a shallow
    copy is all it takes, on the path of every order.
    """
    return {name: getattr(record, name) for name in field_names(type(record))}


def state_to_json(state: SimState) -> dict[str, Any]:
    """Return the state as JSON-ready data."""
    data = flat(state)
    data.update(
        account=flat(state.account), symbols=[flat(s) for s in state.symbols], selected=list(state.selected),
        clock=flat(state.clock), terminal=flat(state.terminal), closed_markets=list(state.closed_markets),
        shifts={k: [tuple(x) for x in v] for k, v in state.shifts.items()},
        holds={k: [tuple(x) for x in v] for k, v in state.holds.items()},
        positions=[flat(r) for r in state.positions], orders=[flat(r) for r in state.orders],
        history_orders=[flat(r) for r in state.history_orders], deals=[flat(r) for r in state.deals],
        faults=[flat(r) for r in state.faults], version=STATE_VERSION)
    return data
