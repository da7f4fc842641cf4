"""The Accounts & Sync view's models: each account's sync health, and the recent failures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from tnm_desktop.domain import SyncHealth, SyncLog
from tnm_desktop.gui.widgets import fmt, theme

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

CONNECTION_TEXT = {"connected": ("Connected", "good"), "pending": ("Not synced yet", "idle"),
                   "disconnected": ("Disconnected", "warn"), "syncing": ("Syncing", "idle"),
                "active": ("Active", "good"), "error": ("Error", "bad")}


def account_label(login: int | None, server: str | None) -> str:
    """How an account is named in the tables: "5001 · Demo-Server"."""
    return f"{login} · {server}" if login is not None else (server or "")


R = TypeVar("R")


class _Table(QAbstractTableModel, Generic[R]):
    # Shared plumbing: fixed headers, no children, rows kept in a list.
    HEADERS: tuple[str, ...] = ()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[R] = []

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return None

    def _valid(self, index: Index) -> bool:
        return index.isValid() and 0 <= index.row() < len(self._rows) and 0 <= index.column() < len(self.HEADERS)


class HealthTableModel(_Table[SyncHealth]):
    """One row per trading account: balance, connection and how its syncs have gone (24 h)."""

    HEADERS = ("Account", "Balance", "Equity", "Connection", "Last successful sync", "Success (24 h)",
               "Average duration", "Failures (24 h)", "Stale")
    (COL_ACCOUNT, COL_BALANCE, COL_EQUITY, COL_CONNECTION, COL_LAST_OK, COL_RATE, COL_AVG, COL_FAILURES,
     COL_STALE) = range(9)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not self._valid(index):
            return None
        row: SyncHealth = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == self.COL_CONNECTION:
                return theme.state_color(CONNECTION_TEXT.get(row.connection_status, ("", "idle"))[1])
            if col == self.COL_FAILURES and row.failed_syncs_24h:
                return theme.state_color("bad")
            if col == self.COL_STALE and row.is_stale:
                return theme.state_color("warn")
            if col == self.COL_RATE and row.success_rate_pct is not None:
                return theme.state_color("good" if row.success_rate_pct >= 95 else
                                         "warn" if row.success_rate_pct >= 80 else "bad")
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (self.COL_BALANCE, self.COL_EQUITY, self.COL_RATE,
                                                                 self.COL_AVG, self.COL_FAILURES):
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [f"{row.broker_name} {account_label(row.login, row.server)}".strip(),
                     f"Last sync: {fmt.moment(row.last_sync_at)}",
                     f"Last successful sync: {fmt.moment(row.last_successful_sync_at)}",
                     f"Syncs in 24 h: {row.total_syncs_24h} ({row.failed_syncs_24h} failed)"]
            if row.last_connection_error:
                lines.append(f"Last error: {row.last_connection_error}")
            return "\n".join(lines)
        if role == Qt.ItemDataRole.UserRole:
            return row.account_id
        return None

    def _display(self, row: SyncHealth, col: int) -> str:
        if col == self.COL_ACCOUNT:
            return f"{account_label(row.login, row.server)}" + (f" ({row.broker_name})" if row.broker_name else "")
        if col == self.COL_BALANCE:
            return fmt.money(row.balance, row.currency)
        if col == self.COL_EQUITY:
            return fmt.money(row.equity, row.currency)
        if col == self.COL_CONNECTION:
            return CONNECTION_TEXT.get(row.connection_status, (row.connection_status, ""))[0]
        if col == self.COL_LAST_OK:
            at = row.last_successful_sync_at
            return "Never" if at is None else fmt.ago((datetime.now(UTC) - at).total_seconds())
        if col == self.COL_RATE:
            return "—" if row.success_rate_pct is None else f"{row.success_rate_pct:.0f} %"
        if col == self.COL_AVG:
            return "—" if row.avg_duration_ms is None else fmt.duration_ms(row.avg_duration_ms)
        if col == self.COL_FAILURES:
            return str(row.failed_syncs_24h)
        return "Stale" if row.is_stale else ""

    def set_health(self, rows: list[SyncHealth]) -> None:
        """Replace the rows (same accounts keep their row order: the view's selection stays put)."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def health_at(self, row: int) -> SyncHealth | None:
        """The account at a row."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, account_id: str) -> int:
        """The row of an account, or -1."""
        return next((i for i, r in enumerate(self._rows) if r.account_id == account_id), -1)

    def refresh_times(self) -> None:
        """Re-render the relative "… ago" column."""
        if self._rows:
            self.dataChanged.emit(self.index(0, self.COL_LAST_OK), self.index(len(self._rows) - 1, self.COL_LAST_OK),
                                  [Qt.ItemDataRole.DisplayRole])


class FailureTableModel(_Table[SyncLog]):
    """Failed and partial syncs of the last 24 hours, newest first, with the error."""

    HEADERS = ("When", "Account", "Outcome", "Type", "Duration", "Error")
    COL_WHEN, COL_ACCOUNT, COL_OUTCOME, COL_TYPE, COL_DURATION, COL_ERROR = range(6)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not self._valid(index):
            return None
        row: SyncLog = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.started_at.astimezone().strftime("%d %b %H:%M:%S"), account_label(row.login, row.server),
                    "Partial" if row.status == "partial" else "Failed", row.sync_type.capitalize(),
                    "—" if row.duration_ms is None else fmt.duration_ms(row.duration_ms),
                    row.error_message or "")[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == self.COL_OUTCOME:
            return theme.state_color("warn" if row.status == "partial" else "bad")
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{fmt.moment(row.started_at)}\n{row.error_message or ''}".strip()
        if role == Qt.ItemDataRole.TextAlignmentRole and col == self.COL_DURATION:
            return _RIGHT
        if role == Qt.ItemDataRole.UserRole:
            return row.account_id
        return None

    def set_failures(self, rows: list[SyncLog]) -> None:
        """Replace the rows."""
        self.beginResetModel()
        self._rows = sorted(rows, key=lambda r: r.started_at, reverse=True)
        self.endResetModel()

    def failure_at(self, row: int) -> SyncLog | None:
        """The failure at a row."""
        return self._rows[row] if 0 <= row < len(self._rows) else None
