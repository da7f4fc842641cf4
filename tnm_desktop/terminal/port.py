"""The terminal port: what the agent asks of a MetaTrader 5 terminal, in typed values.

Everything is a frozen dataclass or an enum; times are timezone-aware UTC (the adapter converts
the terminal's trade-server times). Calls block: the agent makes them on its own thread.

Errors (``tnm_desktop.errors``): :class:`~tnm_desktop.errors.TransientError` when the terminal
cannot be reached (retry later), :class:`~tnm_desktop.errors.OperationalError` when the trader
must act (auto-trading disabled, terminal not logged in), :class:`~tnm_desktop.errors.UserError`
for what the request got wrong (a symbol the broker does not offer, a position that is not open).
A broker's refusal of an order is not an error: it is an :class:`OrderOutcome`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol


class Side(StrEnum):
    """Buy or sell."""

    BUY = "buy"
    SELL = "sell"


class FillStatus(StrEnum):
    """How an order ended.

    ``UNKNOWN`` means the terminal could not say (no answer, a timeout, a lost connection): the
    order may or may not exist. Look its comment token up (:meth:`TerminalPort.find_by_token`)
    before sending anything again.
    """

    FILLED = "filled"
    PARTIAL = "partial"
    PLACED = "placed"  # a pending order the broker accepted: it waits for its price
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class FillingMode(StrEnum):
    """How a market order may be filled: fill or kill, immediate or cancel, or return the rest."""

    FOK = "fok"
    IOC = "ioc"
    RETURN = "return"


class PendingKind(StrEnum):
    """A pending order's kind: a limit (a better price), a stop (a worse one), or a stop that then places a limit."""

    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class ChangeStatus(StrEnum):
    """How a change (new SL/TP, a pending order removed) ended; ``UNKNOWN``: look again before retrying."""

    DONE = "done"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class TradeMode(StrEnum):
    """What the broker allows on a symbol."""

    DISABLED = "disabled"
    LONG_ONLY = "long_only"
    SHORT_ONLY = "short_only"
    CLOSE_ONLY = "close_only"
    FULL = "full"


class Timeframe(StrEnum):
    """Bar length."""

    M1 = "M1"
    M5 = "M5"
    M15 = "M15"
    M30 = "M30"
    H1 = "H1"
    H4 = "H4"
    D1 = "D1"
    W1 = "W1"
    MN1 = "MN1"


class DealEntry(StrEnum):
    """Whether a deal opened, closed, reversed or closed-by a position."""

    IN = "in"
    OUT = "out"
    INOUT = "inout"
    OUT_BY = "out_by"


class DealKind(StrEnum):
    """What a deal is: a trade or a balance operation."""

    BUY = "buy"
    SELL = "sell"
    BALANCE = "balance"
    CREDIT = "credit"
    OTHER = "other"


class AccountMode(StrEnum):
    """Whose money an account trades: a demo account's, a contest's, or real money."""

    DEMO = "demo"
    CONTEST = "contest"
    REAL = "real"


@dataclass(frozen=True, slots=True)
class ConnectSettings:
    """How to reach the terminal; ``None`` fields use what the terminal remembers."""

    path: str | None = None
    login: int | None = None
    password: str | None = field(default=None, repr=False)
    server: str | None = None
    timeout_ms: int = 60_000


@dataclass(frozen=True, slots=True)
class TerminalStatus:
    """The terminal as the agent sees it."""

    connected: bool  # to the broker's trade server
    trade_allowed: bool  # the terminal's Algo Trading button
    login: int | None
    server: str | None
    company: str | None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The trading account now."""

    login: int
    server: str
    company: str
    name: str
    currency: str
    leverage: int
    balance: float
    equity: float
    margin: float
    free_margin: float
    margin_level: float  # percent; 0 without open positions
    profit: float
    mode: AccountMode = AccountMode.REAL  # unknown counts as real money: the cautious reading


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A broker symbol's contract data.

    ``tick_value`` is what one tick is worth per lot on a losing trade, in the account
    currency (what risk sizing needs); ``tick_value_profit`` on a winning one. They differ when
    the profit currency is not the account currency (USDJPY on a USD account).
    """

    name: str
    description: str
    digits: int
    point: float
    tick_size: float
    tick_value: float
    tick_value_profit: float
    contract_size: float
    volume_min: float
    volume_step: float
    volume_max: float
    filling_modes: tuple[FillingMode, ...]  # accepted for market orders, preferred first
    stops_level: int  # minimum SL/TP distance in points
    trade_mode: TradeMode
    currency_base: str
    currency_profit: str
    currency_margin: str
    path: str = ""  # Market Watch path, e.g. "Metals\\XAUUSD.m"
    # MT5's SYMBOL_CALC_MODE_* as a word: forex, forex_no_leverage, futures, cfd, cfd_index,
    # cfd_leverage, exchange (stocks and the like); empty when unknown.
    calc_mode: str = ""
    freeze_level: int = 0  # no change of an order or stop this close to the market, in points
    pending_kinds: tuple[PendingKind, ...] = (PendingKind.LIMIT, PendingKind.STOP)  # what the broker accepts


@dataclass(frozen=True, slots=True)
class Quote:
    """The last prices of a symbol."""

    symbol: str
    bid: float
    ask: float
    time: datetime


@dataclass(frozen=True, slots=True)
class MarketOrder:
    """A market order to send.

    ``comment`` carries the job's token; the broker keeps its first 31 characters. ``sl`` and
    ``tp`` are prices (``None``: none); ``deviation`` is the accepted slippage in points.
    """

    symbol: str
    side: Side
    volume: float
    sl: float | None = None
    tp: float | None = None
    deviation: int = 20
    magic: int = 0
    comment: str = ""


@dataclass(frozen=True, slots=True)
class PendingOrder:
    """A pending order to place.

    ``price`` is where a limit or stop order triggers; a stop-limit order's ``stoplimit`` is the
    price of the limit order it places when ``price`` is reached. ``expires_at`` (aware UTC) is
    when the broker deletes it if it has not triggered (``None``: good till cancelled).
    """

    symbol: str
    side: Side
    kind: PendingKind
    volume: float
    price: float
    stoplimit: float | None = None
    sl: float | None = None
    tp: float | None = None
    expires_at: datetime | None = None
    magic: int = 0
    comment: str = ""


@dataclass(frozen=True, slots=True)
class ChangeOutcome:
    """What became of a change request (``retcode`` ``None``: no answer came)."""

    status: ChangeStatus
    retcode: int | None
    message: str

    @property
    def done(self) -> bool:
        """Whether the change is certainly in place (an unchanged request counts: it already was)."""
        return self.status is ChangeStatus.DONE


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What became of an order.

    Attributes:
        status: See :class:`FillStatus`.
        retcode: The trade server's return code (``None`` when no answer came).
        message: The broker's comment, or why the outcome is unknown; fit to show a trader.
        order: The order ticket (0 if none).
        deal: The deal ticket (0 if none).
        position: The position the order opened or closed (0 if unknown).
        requested_volume: Lots asked for.
        filled_volume: Lots filled (0 unless filled or partial).
        price: The fill price (0 unless filled or partial).
        attempts: How many requests were sent (requotes and filling-mode retries included).
        filling: The filling mode of the last request.
    """

    status: FillStatus
    retcode: int | None
    message: str
    requested_volume: float
    order: int = 0
    deal: int = 0
    position: int = 0
    filled_volume: float = 0.0
    price: float = 0.0
    attempts: int = 1
    filling: FillingMode | None = None

    @property
    def executed(self) -> bool:
        """Whether lots were certainly filled."""
        return self.status in (FillStatus.FILLED, FillStatus.PARTIAL)


@dataclass(frozen=True, slots=True)
class Position:
    """An open position."""

    ticket: int
    symbol: str
    side: Side
    volume: float
    price_open: float
    price_current: float
    sl: float | None
    tp: float | None
    profit: float
    swap: float
    magic: int
    comment: str
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """A pending order or an order in the history (``order_type`` and ``state`` are MT5's codes)."""

    ticket: int
    symbol: str
    order_type: int
    state: int
    volume_initial: float
    volume_current: float
    price_open: float
    sl: float | None
    tp: float | None
    magic: int
    comment: str
    position_id: int
    setup_at: datetime
    done_at: datetime | None
    stoplimit: float | None = None  # a stop-limit order's limit price
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Deal:
    """A deal: an execution, or a balance operation (``symbol`` empty)."""

    ticket: int
    order: int
    position_id: int
    symbol: str
    kind: DealKind
    entry: DealEntry
    volume: float
    price: float
    profit: float
    commission: float
    swap: float
    fee: float
    magic: int
    comment: str
    reason: int  # MT5's DEAL_REASON_*: 4 stop loss, 5 take profit, 6 stop out
    time: datetime


@dataclass(frozen=True, slots=True)
class TokenMatches:
    """Everything in the terminal that carries a comment token, and what belongs to it.

    Positions and deals are included through the opening order or deal that carries the token,
    because MT5 overwrites a position's comment when the server closes it (``[sl 1.08000]``).
    """

    token: str
    pending_orders: tuple[OrderRecord, ...]
    positions: tuple[Position, ...]
    history_orders: tuple[OrderRecord, ...]
    deals: tuple[Deal, ...]

    @property
    def found(self) -> bool:
        """Whether the terminal has anything with the token: the order reached the broker."""
        return bool(self.pending_orders or self.positions or self.history_orders or self.deals)

    @property
    def opening_deals(self) -> tuple[Deal, ...]:
        """The deals that filled the tokened order."""
        return tuple(d for d in self.deals if d.entry is DealEntry.IN and self.token in d.comment)

    @property
    def filled_volume(self) -> float:
        """Lots the tokened order filled."""
        return round(sum(d.volume for d in self.opening_deals), 8)

    @property
    def position_ids(self) -> tuple[int, ...]:
        """The positions the tokened order opened, open or closed since."""
        return tuple(sorted({d.position_id for d in self.opening_deals} | {p.ticket for p in self.positions}))


@dataclass(frozen=True, slots=True)
class Candle:
    """One bar."""

    time: datetime
    open: float
    high: float
    low: float
    close: float
    tick_volume: int
    spread: int


class TerminalPort(Protocol):
    """A MetaTrader 5 terminal, as the agent uses it."""

    def connect(self, settings: ConnectSettings | None = None) -> TerminalStatus:
        """Connect (and log in when ``settings`` say so); return the terminal's status."""
        ...

    def status(self) -> TerminalStatus:
        """Return whether the terminal is connected, may trade, and to which account."""
        ...

    def account(self) -> AccountSnapshot:
        """Return the account's balance, equity and margin now."""
        ...

    def symbol(self, name: str) -> SymbolSpec:
        """Return a broker symbol's contract data, selecting it in Market Watch if needed."""
        ...

    def symbol_names(self, group: str | None = None) -> tuple[str, ...]:
        """Return the broker's symbol names (optionally an MT5 group mask such as ``"*USD*"``)."""
        ...

    def quote(self, name: str) -> Quote:
        """Return the symbol's last bid and ask."""
        ...

    def read_ahead(self, quote: str | None = None) -> None:
        """The account, then the positions (then ``quote``'s prices) are about to be read: ask for
        them in one trip where the terminal can; a no-op where each read is cheap already."""
        ...

    def send_market_order(self, order: MarketOrder) -> OrderOutcome:
        """Send a market order; retry what is safe to retry; classify the result."""
        ...

    def close_position(self, ticket: int, volume: float | None = None, *, deviation: int = 20, magic: int = 0,
                       comment: str = "", seen: Position | None = None) -> OrderOutcome:
        """Close a position, or ``volume`` lots of it, by an opposite deal.

        ``seen`` is the position as the caller has just read it (spares reading it again).
        """
        ...

    def send_pending_order(self, order: PendingOrder) -> OrderOutcome:
        """Place a pending order (``PLACED`` when the broker took it); classify the result."""
        ...

    def modify_position(self, ticket: int, sl: float | None, tp: float | None) -> ChangeOutcome:
        """Set an open position's stop loss and take profit (``None``: none); an unchanged request is done."""
        ...

    def remove_order(self, ticket: int) -> ChangeOutcome:
        """Delete a pending order.

        Raises:
            UserError: the order is not pending (it triggered, expired or was deleted already).
        """
        ...

    def orders(self, symbol: str | None = None) -> tuple[OrderRecord, ...]:
        """Return the pending orders (of one symbol)."""
        ...

    def positions(self, symbol: str | None = None) -> tuple[Position, ...]:
        """Return the open positions (of one symbol)."""
        ...

    def position(self, ticket: int) -> Position | None:
        """Return one open position, or ``None`` if it is not open."""
        ...

    def find_by_token(self, token: str, *, lookback: timedelta = timedelta(days=30)) -> TokenMatches:
        """Find every order, position and deal whose opening carried ``token`` in its comment."""
        ...

    def deals_since(self, since: datetime) -> tuple[Deal, ...]:
        """Return the deals done since ``since`` (aware UTC), oldest first."""
        ...

    def server_time_offset(self) -> timedelta:
        """Return how far the broker's trade-server clock is ahead of UTC."""
        ...

    def candles(self, symbol: str, timeframe: Timeframe, count: int) -> tuple[Candle, ...]:
        """Return the last ``count`` bars, oldest first, the forming bar last."""
        ...

    def shutdown(self) -> None:
        """Let go of the terminal."""
        ...
