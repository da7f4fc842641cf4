"""The strategies table: each strategy with its broker connection and today's activity."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from tnm_desktop.domain import Strategy, StrategyStats
from tnm_desktop.gui.widgets import fmt, theme

COLUMNS = ("Name", "Broker connection", "Enabled", "Risk override", "Allowed pairs", "Last signal", "Signals today")
NAME, BROKER, ENABLED, RISK, PAIRS, LAST_SIGNAL, TODAY = range(len(COLUMNS))
ID_ROLE = Qt.ItemDataRole.UserRole
_ROLE = Qt.ItemDataRole
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


class StrategiesModel(QAbstractTableModel):
    """Strategies sorted by name, with broker names and per-strategy stats beside them."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Strategy] = []
        self._brokers: dict[str, str] = {}
        self._stats: dict[str, StrategyStats] = {}

    # Changing ---------------------------------------------------------------------------------

    def set_all(self, strategies: list[Strategy], brokers: dict[str, str], stats: list[StrategyStats]) -> None:
        """Replace everything (a full reload)."""
        self.beginResetModel()
        self._rows = sorted(strategies, key=lambda s: s.name.lower())
        self._brokers = dict(brokers)
        self._stats = {s.strategy_id: s for s in stats}
        self.endResetModel()

    def set_stats(self, stats: list[StrategyStats]) -> None:
        """New activity figures; only those columns repaint."""
        self._stats = {s.strategy_id: s for s in stats}
        if self._rows:
            self.dataChanged.emit(self.index(0, LAST_SIGNAL), self.index(len(self._rows) - 1, TODAY))

    def upsert(self, strategy: Strategy) -> int:
        """Add or replace one strategy at its place by name; return its row."""
        current = self.row_of(strategy.id)
        if current is not None and self._fits_at(current, strategy.name.lower()):
            # In place: the selection and the view's scroll position stay as they are.
            self._rows[current] = strategy
            self.dataChanged.emit(self.index(current, 0), self.index(current, len(COLUMNS) - 1))
            return current
        self.remove(strategy.id)
        key = strategy.name.lower()
        row = next((i for i, s in enumerate(self._rows) if s.name.lower() > key), len(self._rows))
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, strategy)
        self.endInsertRows()
        return row

    def _fits_at(self, row: int, key: str) -> bool:
        before = self._rows[row - 1].name.lower() if row > 0 else ""
        after = self._rows[row + 1].name.lower() if row + 1 < len(self._rows) else None
        return before <= key and (after is None or key <= after)

    def remove(self, strategy_id: str) -> None:
        """Drop a strategy if it is listed."""
        row = self.row_of(strategy_id)
        if row is not None:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()

    # Reading ----------------------------------------------------------------------------------

    def strategy(self, row: int) -> Strategy:
        """The strategy on ``row``."""
        return self._rows[row]

    def row_of(self, strategy_id: str) -> int | None:
        """The row of a strategy, if listed."""
        return next((i for i, s in enumerate(self._rows) if s.id == strategy_id), None)

    def broker_name(self, broker_id: str) -> str:
        """A broker connection's name."""
        return self._brokers.get(broker_id, "(unknown connection)")

    # Qt model API -----------------------------------------------------------------------------

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _ROLE.DisplayRole) -> object:
        if orientation is Qt.Orientation.Horizontal and role == _ROLE.DisplayRole and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = _ROLE.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        strategy = self._rows[index.row()]
        column = index.column()
        if role == _ROLE.DisplayRole:
            return self._display(strategy, column)
        if role == _ROLE.ForegroundRole and column == ENABLED:
            return theme.state_color("good" if strategy.is_enabled else "idle")
        if role == _ROLE.TextAlignmentRole and column in (RISK, TODAY):
            return _RIGHT
        if role == _ROLE.ToolTipRole and column == RISK and strategy.risk_override_pct is None:
            return "Uses the risk per trade from Settings."
        if role == ID_ROLE:
            return strategy.id
        return None

    def _display(self, strategy: Strategy, column: int) -> str:
        stats = self._stats.get(strategy.id)
        if column == NAME:
            return strategy.name
        if column == BROKER:
            return self.broker_name(strategy.broker_connection_id)
        if column == ENABLED:
            return "Enabled" if strategy.is_enabled else "Disabled"
        if column == RISK:
            return fmt.percent(strategy.risk_override_pct, empty="Default")
        if column == PAIRS:
            return ", ".join(strategy.allowed_pairs) if strategy.allowed_pairs else "All pairs"
        if column == LAST_SIGNAL:
            return fmt.moment(stats.last_signal_at if stats else None, empty="Never")
        if column == TODAY:
            return str(stats.signals_today if stats else 0)
        return ""
