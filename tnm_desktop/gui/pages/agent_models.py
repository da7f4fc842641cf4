"""The Agent view's log model: the agent's recent log lines, capped."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from tnm_desktop.agent.events import LogLine
from tnm_desktop.gui.widgets import theme

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
_LEVEL_COLOUR = {"warning": "warn", "error": "bad"}


class AgentLogModel(QAbstractListModel):
    """The newest ``limit`` lines of the agent's log, oldest first.

    Args:
        limit: Lines kept; older ones are dropped as new ones arrive.
        parent: Qt parent.
    """

    def __init__(self, limit: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.limit = limit
        self._lines: list[LogLine] = []

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._lines)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._lines):
            return None
        line = self._lines[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            level = "" if line.level == "info" else f"{line.level.upper()}  "
            return f"{line.at.astimezone().strftime('%H:%M:%S')}  {level}{line.text}"
        if role == Qt.ItemDataRole.ForegroundRole and line.level in _LEVEL_COLOUR:
            return theme.state_color(_LEVEL_COLOUR[line.level])
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{line.at.astimezone().isoformat(sep=' ', timespec='milliseconds')} · {line.level}"
        return None

    def append(self, line: LogLine) -> None:
        """Add a line at the end, dropping the oldest beyond the cap."""
        if len(self._lines) >= self.limit:
            drop = len(self._lines) - self.limit + 1
            self.beginRemoveRows(QModelIndex(), 0, drop - 1)
            del self._lines[:drop]
            self.endRemoveRows()
        self.beginInsertRows(QModelIndex(), len(self._lines), len(self._lines))
        self._lines.append(line)
        self.endInsertRows()

    def lines(self) -> list[LogLine]:
        """The lines kept."""
        return list(self._lines)
