"""Broker connections as a table, and the editable symbol mapping of one connection."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from tnm_desktop.domain import BrokerConnection
from tnm_desktop.gui.widgets import theme

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
_ROLE = Qt.ItemDataRole
_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

BROKER_COLUMNS = ("Name", "Broker", "Server", "Login", "Type", "Suffix", "Symbol mapping", "Agent", "Active")


def mapping_summary(connection: BrokerConnection) -> str:
    """``XAUUSD → GOLD, +2 more`` or how unmapped symbols are named."""
    pairs = [f"{tv} → {broker}" for tv, broker in sorted(connection.symbol_map.items())]
    shown = ", ".join(pairs[:2]) + (f", +{len(pairs) - 2} more" if len(pairs) > 2 else "")
    rest = f"others + “{connection.symbol_suffix}”" if connection.symbol_suffix else "others unchanged"
    return f"{shown}; {rest}" if shown else rest.capitalize()


class BrokersModel(QAbstractTableModel):
    """The user's broker connections with the agent serving each."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[BrokerConnection] = []
        self._agents: dict[str, str] = {}

    def set_all(self, connections: list[BrokerConnection], agents: dict[str, str]) -> None:
        """Replace the list."""
        self.beginResetModel()
        self._rows = list(connections)
        self._agents = dict(agents)
        self.endResetModel()

    def connection(self, row: int) -> BrokerConnection:
        """The connection on ``row``."""
        return self._rows[row]

    def row_of(self, connection_id: str) -> int | None:
        """The row of a connection."""
        return next((i for i, c in enumerate(self._rows) if c.id == connection_id), None)

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(BROKER_COLUMNS)

    def flags(self, index: Index) -> Qt.ItemFlag:
        return _FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _ROLE.DisplayRole) -> object:
        horizontal = orientation is Qt.Orientation.Horizontal
        if horizontal and role == _ROLE.DisplayRole and 0 <= section < len(BROKER_COLUMNS):
            return BROKER_COLUMNS[section]
        return None

    def data(self, index: Index, role: int = _ROLE.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        c = self._rows[index.row()]
        if role == _ROLE.DisplayRole:
            values = (c.name, c.broker_name, c.server, "" if c.login is None else str(c.login),
                      c.account_type.capitalize(), c.symbol_suffix, mapping_summary(c),
                      self._agents.get(c.agent_id, "(removed agent)") if c.agent_id else "No agent",
                      "Yes" if c.is_active else "No")
            return values[index.column()]
        if role == _ROLE.ForegroundRole and index.column() == 7 and not c.agent_id:
            return theme.state_color("warn")
        if role == _ROLE.ToolTipRole and index.column() == 6:
            return "\n".join(f"{tv} → {broker}" for tv, broker in sorted(c.symbol_map.items())) or None
        return None


class SymbolMapModel(QAbstractTableModel):
    """TradingView symbol → broker symbol, edited in place; rows can be added and removed."""

    HEADERS = ("TradingView symbol", "Broker symbol")

    def __init__(self, mapping: dict[str, str] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[list[str]] = [[tv, broker] for tv, broker in sorted((mapping or {}).items())]

    def pairs(self) -> list[tuple[str, str]]:
        """The rows as typed (not validated)."""
        return [(tv, broker) for tv, broker in self._rows]

    def add_row(self) -> int:
        """Append an empty row; return it."""
        row = len(self._rows)
        self.insertRows(row, 1)
        return row

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else 2

    def flags(self, index: Index) -> Qt.ItemFlag:
        return _FLAGS | Qt.ItemFlag.ItemIsEditable if index.isValid() else Qt.ItemFlag.NoItemFlags

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _ROLE.DisplayRole) -> object:
        if orientation is Qt.Orientation.Horizontal and role == _ROLE.DisplayRole and 0 <= section < 2:
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = _ROLE.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if role in (_ROLE.DisplayRole, _ROLE.EditRole):
            return self._rows[index.row()][index.column()]
        return None

    def setData(self, index: Index, value: object, role: int = _ROLE.EditRole) -> bool:
        if not index.isValid() or role != _ROLE.EditRole or not 0 <= index.row() < len(self._rows):
            return False
        text = str(value).strip()
        self._rows[index.row()][index.column()] = text.upper() if index.column() == 0 else text
        self.dataChanged.emit(index, index, [_ROLE.DisplayRole, _ROLE.EditRole])
        return True

    def insertRows(self, row: int, count: int, parent: Index = _ROOT) -> bool:
        if parent.isValid() or not 0 <= row <= len(self._rows) or count < 1:
            return False
        self.beginInsertRows(QModelIndex(), row, row + count - 1)
        self._rows[row:row] = [["", ""] for _ in range(count)]
        self.endInsertRows()
        return True

    def removeRows(self, row: int, count: int, parent: Index = _ROOT) -> bool:
        if parent.isValid() or row < 0 or count < 1 or row + count > len(self._rows):
            return False
        self.beginRemoveRows(QModelIndex(), row, row + count - 1)
        del self._rows[row:row + count]
        self.endRemoveRows()
        return True
