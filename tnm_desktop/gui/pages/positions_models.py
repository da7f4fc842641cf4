"""The Positions & History page's models: open positions, pending orders, closed trades, figures, days.

Rows are small lists (an account holds tens of positions; the history shows up to a thousand
closed trades), so each model keeps its rows and resets on a new load. Money is in the account's
currency; profit and loss are coloured (a gain green, a loss red).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from tnm_desktop.domain.history import ClosedTrade, DailyPnl, Figures
from tnm_desktop.domain.positions import OpenPosition, PendingOrder
from tnm_desktop.gui.widgets import fmt, theme

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
NO_STRATEGY = "No strategy"
ORDER_NAMES = {"buy_limit": "Buy limit", "sell_limit": "Sell limit", "buy_stop": "Buy stop", "sell_stop": "Sell stop",
               "buy_stop_limit": "Buy stop limit", "sell_stop_limit": "Sell stop limit"}


def signed(amount: float | None, currency: str = "") -> str:
    """A profit or loss with its sign: "+12.50 USD", "−3.10 USD"."""
    if amount is None:
        return "—"
    sign = "+" if amount > 0 else "−" if amount < 0 else ""
    return f"{sign}{abs(amount):,.2f} {currency}".strip()


def pnl_color(amount: float | None) -> Any:
    """Green for a gain, red for a loss, nothing for zero."""
    if not amount:
        return None
    return theme.state_color("good" if amount > 0 else "bad")


def side_text(side: str) -> str:
    """"Buy" / "Sell"."""
    return "Buy" if side == "buy" else "Sell"


class _Table(QAbstractTableModel):
    # Shared plumbing: fixed headers, rows in a list, a lookup of strategy names.
    HEADERS: tuple[str, ...] = ()
    RIGHT: frozenset[int] = frozenset()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []
        self.names: dict[str, str] = {}
        self.currency = ""

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows) or not 0 <= index.column() < len(self.HEADERS):
            return None
        row, col = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.display(row, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in self.RIGHT:
            return _RIGHT
        if role == Qt.ItemDataRole.ForegroundRole:
            return self.colour(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(row, col)
        return None

    def display(self, row: Any, col: int) -> str:
        raise NotImplementedError

    def colour(self, row: Any, col: int) -> Any:
        return None

    def tooltip(self, row: Any, col: int) -> str | None:
        return None

    def set_rows(self, rows: list[Any]) -> None:
        """Show these rows."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> Any:
        """The item of a row, or None."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rows(self) -> list[Any]:
        """Every item shown."""
        return list(self._rows)

    def strategy(self, strategy_id: str | None) -> str:
        """A strategy's name."""
        return self.names.get(strategy_id, "A deleted strategy") if strategy_id else NO_STRATEGY


class PositionsModel(_Table):
    """The open positions of an account, from its latest snapshot."""

    HEADERS = ("Symbol", "Side", "Lots", "Open price", "Current price", "Stop loss", "Take profit", "Floating P&L",
               "Swap", "Opened", "Strategy", "Ticket")
    (COL_SYMBOL, COL_SIDE, COL_LOTS, COL_OPEN, COL_CURRENT, COL_SL, COL_TP, COL_PNL, COL_SWAP, COL_OPENED,
     COL_STRATEGY, COL_TICKET) = range(12)
    RIGHT = frozenset({COL_LOTS, COL_OPEN, COL_CURRENT, COL_SL, COL_TP, COL_PNL, COL_SWAP, COL_TICKET})

    def display(self, row: OpenPosition, col: int) -> str:
        values = {
            self.COL_SYMBOL: row.symbol, self.COL_SIDE: side_text(row.side), self.COL_LOTS: f"{row.volume:g}",
            self.COL_OPEN: fmt.price(row.price_open), self.COL_CURRENT: fmt.price(row.price_current),
            self.COL_SL: fmt.price(row.sl) or "—", self.COL_TP: fmt.price(row.tp) or "—",
            self.COL_PNL: signed(row.profit, self.currency), self.COL_SWAP: signed(row.swap),
            self.COL_OPENED: fmt.moment(row.opened_at), self.COL_STRATEGY: self.strategy(row.strategy_id),
            self.COL_TICKET: f"#{row.ticket}"}
        return values[col]

    def colour(self, row: OpenPosition, col: int) -> Any:
        if col == self.COL_PNL:
            return pnl_color(row.profit)
        if col == self.COL_SWAP:
            return pnl_color(row.swap)
        return None

    def tooltip(self, row: OpenPosition, col: int) -> str | None:
        if col == self.COL_STRATEGY and row.signal_id:
            return "Opened by a signal of this strategy: its detail is in the Signals page."
        if col == self.COL_STRATEGY and not row.strategy_id:
            return "Opened by hand, by an Expert Advisor, or by a strategy that no longer exists."
        return None

    def total_profit(self) -> float:
        """The floating P&L of every position shown."""
        return round(sum(p.profit for p in self._rows), 2)


class OrdersModel(_Table):
    """The pending orders of an account."""

    HEADERS = ("Symbol", "Type", "Lots", "Price", "Stop loss", "Take profit", "Placed", "Strategy", "Ticket")
    COL_SYMBOL, COL_TYPE, COL_LOTS, COL_PRICE, COL_SL, COL_TP, COL_PLACED, COL_STRATEGY, COL_TICKET = range(9)
    RIGHT = frozenset({COL_LOTS, COL_PRICE, COL_SL, COL_TP, COL_TICKET})

    def display(self, row: PendingOrder, col: int) -> str:
        values = {
            self.COL_SYMBOL: row.symbol, self.COL_TYPE: ORDER_NAMES.get(row.order_type, row.order_type),
            self.COL_LOTS: f"{row.volume:g}", self.COL_PRICE: fmt.price(row.price_open),
            self.COL_SL: fmt.price(row.sl) or "—", self.COL_TP: fmt.price(row.tp) or "—",
            self.COL_PLACED: fmt.moment(row.placed_at), self.COL_STRATEGY: self.strategy(row.strategy_id),
            self.COL_TICKET: f"#{row.ticket}"}
        return values[col]


class TradesModel(_Table):
    """Closed trades, newest first."""

    HEADERS = ("Closed", "Symbol", "Side", "Lots", "Open price", "Close price", "Net P&L", "Commission", "Swap",
               "Strategy", "Opened", "Position")
    (COL_CLOSED, COL_SYMBOL, COL_SIDE, COL_LOTS, COL_OPEN, COL_CLOSE, COL_NET, COL_COMMISSION, COL_SWAP,
     COL_STRATEGY, COL_OPENED, COL_POSITION) = range(12)
    RIGHT = frozenset({COL_LOTS, COL_OPEN, COL_CLOSE, COL_NET, COL_COMMISSION, COL_SWAP, COL_POSITION})

    def display(self, row: ClosedTrade, col: int) -> str:
        values = {
            self.COL_CLOSED: fmt.moment(row.closed_at), self.COL_SYMBOL: row.symbol,
            self.COL_SIDE: side_text(row.side), self.COL_LOTS: f"{row.volume:g}",
            self.COL_OPEN: fmt.price(row.open_price) or "—", self.COL_CLOSE: fmt.price(row.close_price) or "—",
            self.COL_NET: signed(row.net, self.currency), self.COL_COMMISSION: signed(row.commission),
            self.COL_SWAP: signed(row.swap), self.COL_STRATEGY: self.strategy(row.strategy_id),
            self.COL_OPENED: fmt.moment(row.opened_at), self.COL_POSITION: f"#{row.position_id}"}
        return values[col]

    def colour(self, row: ClosedTrade, col: int) -> Any:
        return pnl_color(row.net) if col == self.COL_NET else None


class FiguresModel(_Table):
    """The figures of each strategy (the overall ones are shown above the table)."""

    HEADERS = ("Strategy", "Trades", "Win rate", "Net P&L", "Average win", "Average loss", "Profit factor",
               "Average slippage")
    COL_STRATEGY, COL_TRADES, COL_WIN_RATE, COL_NET, COL_AVG_WIN, COL_AVG_LOSS, COL_PF, COL_SLIPPAGE = range(8)
    RIGHT = frozenset(range(1, 8))

    def display(self, row: Figures, col: int) -> str:
        values = {
            self.COL_STRATEGY: self.strategy(row.strategy_id), self.COL_TRADES: str(row.trades),
            self.COL_WIN_RATE: percent(row.win_rate), self.COL_NET: signed(row.net),
            self.COL_AVG_WIN: signed(row.avg_win), self.COL_AVG_LOSS: signed(row.avg_loss),
            self.COL_PF: profit_factor(row), self.COL_SLIPPAGE: slippage(row.avg_slippage_pips)}
        return values[col]

    def colour(self, row: Figures, col: int) -> Any:
        return pnl_color(row.net) if col == self.COL_NET else None


class DaysModel(_Table):
    """P&L per day, newest first."""

    HEADERS = ("Day", "Trades", "Won", "Net P&L")
    COL_DAY, COL_TRADES, COL_WINS, COL_NET = range(4)
    RIGHT = frozenset({COL_TRADES, COL_WINS, COL_NET})

    def display(self, row: DailyPnl, col: int) -> str:
        values = {self.COL_DAY: row.day.strftime("%a %d %b %Y"), self.COL_TRADES: str(row.trades),
                  self.COL_WINS: str(row.wins), self.COL_NET: signed(row.net, self.currency)}
        return values[col]

    def colour(self, row: DailyPnl, col: int) -> Any:
        return pnl_color(row.net) if col == self.COL_NET else None


def percent(value: float | None) -> str:
    """"57.1 %" or "—"."""
    return "—" if value is None else f"{value:.1f} %"


def profit_factor(figures: Figures) -> str:
    """The profit factor, or why there is none."""
    if figures.profit_factor is not None:
        return f"{figures.profit_factor:.2f}"
    return "no losses" if figures.trades else "—"


def slippage(pips: float | None) -> str:
    """"1.2 pips worse" / "0.4 pips better" / "—"."""
    if pips is None:
        return "—"
    if pips == 0:
        return "none"
    return f"{abs(pips):.1f} pips {'worse' if pips > 0 else 'better'}"


def age_text(taken_at: datetime | None) -> str:
    """How old the snapshot is, for the header."""
    if taken_at is None:
        return "Not read from the terminal yet: the agent writes it at its next sync or trade."
    age = (datetime.now(UTC) - taken_at).total_seconds()
    return f"Read from the terminal {fmt.ago(age)}"
