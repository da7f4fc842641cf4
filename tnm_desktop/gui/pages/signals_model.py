"""The signal log as a table model built for a million rows.

Storage: rows live in two append-only column stores (:mod:`signal_store`) — ``tail`` holds
pages from the database (newest first, so appending a page appends at the bottom) and ``head``
holds rows that arrived live (in arrival order, shown reversed above the tail). About 70 bytes
a row — 1M rows add ~70 MB to the process — against ~200 for a tuple per row (NOTES_QT).
A live update finds its row by id: in the head by a reverse scan of the packed ids, in the tail
(sorted newest first) by a binary search on the timestamp.

Paging: ``fetchMore`` starts one async page load (keyset cursor from the tail's last row) and
returns at once; the rows are appended when they arrive. ``reload`` preempts any load in flight.

Live: changes are queued and applied every ``coalesce_ms`` — new rows in ONE ``beginInsertRows``
at the top per tick, known rows as one ``dataChanged`` each.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QColor

from tnm_desktop.data.port import Change, DataPort
from tnm_desktop.domain import Signal as TvSignal
from tnm_desktop.domain import SignalCursor, SignalFilter
from tnm_desktop.errors import TnmError
from tnm_desktop.gui.pages.signal_store import EPOCH, STATUSES, Store, Tables, key_of, matches, micros
from tnm_desktop.gui.widgets import fmt, theme
from tnm_desktop.gui.widgets.tasks import TaskRunner

_ROLE = Qt.ItemDataRole
ID_ROLE = Qt.ItemDataRole.UserRole
STATUS_ROLE = Qt.ItemDataRole.UserRole + 1
_SERVED = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole,
                     Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ToolTipRole, ID_ROLE, STATUS_ROLE})

# The error last: the one long text takes whatever width is left.
COLUMNS = ("Received", "Strategy", "Symbol", "Action", "Price", "Status", "Fill price", "Order", "Error")
RECEIVED, STRATEGY, SYMBOL, ACTION, PRICE, STATUS, FILL, ORDER, ERROR = range(len(COLUMNS))
_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()  # the default parent: a module-level constant, not a call per default


class SignalsModel(QAbstractTableModel):
    """Newest-first signal log; pages from the data port, live rows on top.

    Args:
        data: The data port.
        tasks: Runs the page loads.
        page_size: Rows per database page.
        coalesce_ms: How long live changes are gathered before they are applied together.

    Signals:
        loading_changed(bool): a page load started (True) or ended (False).
        load_failed(str): a page could not be loaded (the message for the user).
        rows_arrived(int): live rows were inserted at the top (how many).
    """

    loading_changed = Signal(bool)
    load_failed = Signal(str)
    rows_arrived = Signal(int)

    def __init__(self, data: DataPort, tasks: TaskRunner, *, page_size: int = 300, coalesce_ms: int = 150,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._data = data
        self._tasks = tasks
        self._page_size = page_size
        self._key = f"signals-page-{id(self)}"
        self._filter = SignalFilter()
        self._head = Store()
        self._tail = Store()
        self._head_keys: set[bytes] = set()
        self._tables = Tables()
        self._palette: tuple[list[QColor], list[QColor]] = ([], [])
        self._palette_for: bool | None = None
        self._names: dict[str, str] = {}
        self._generation = 0
        self._loading = False
        self._exhausted = True
        self._pending: dict[str, TvSignal] = {}
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(coalesce_ms)
        self._flush.timeout.connect(self._on_flush_timeout)

    # State ------------------------------------------------------------------------------------

    @property
    def filters(self) -> SignalFilter:
        """What the model lists."""
        return self._filter

    @property
    def loading(self) -> bool:
        """Whether a page load is in flight."""
        return self._loading

    @property
    def exhausted(self) -> bool:
        """Whether every matching row has been loaded."""
        return self._exhausted

    def set_strategy_names(self, names: dict[str, str]) -> None:
        """Names to show for strategy ids."""
        self._names = dict(names)
        if self.rowCount():
            self.dataChanged.emit(self.index(0, STRATEGY), self.index(self.rowCount() - 1, STRATEGY))

    def reload(self, filters: SignalFilter | None = None) -> None:
        """Forget every row and load the first page (of ``filters``, or the current ones)."""
        if filters is not None:
            self._filter = filters
        self._generation += 1
        self.beginResetModel()
        self._head, self._tail, self._head_keys = Store(), Store(), set()
        self._pending.clear()
        self._exhausted = False
        self.endResetModel()
        self._set_loading(False)
        self._load_page()

    # Paging -----------------------------------------------------------------------------------

    def canFetchMore(self, parent: Index = _ROOT) -> bool:
        return not parent.isValid() and not self._exhausted and not self._loading

    def fetchMore(self, parent: Index = _ROOT) -> None:
        if self.canFetchMore(parent):
            self._load_page()

    def _load_page(self) -> None:
        tail = self._tail
        after = None
        if len(tail):
            last = len(tail) - 1
            after = SignalCursor(EPOCH + timedelta(microseconds=tail.received[last]), tail.id_at(last))
        generation = self._generation
        self._set_loading(True)
        self._tasks.spawn(self._data.list_signals(self._filter, after=after, limit=self._page_size),
                          name="signals-page", key=self._key,
                          on_result=lambda rows: self._page_loaded(generation, rows),
                          on_error=lambda exc: self._page_failed(generation, exc))

    def _page_loaded(self, generation: int, rows: list[TvSignal]) -> None:
        if generation != self._generation:
            return
        self._exhausted = len(rows) < self._page_size
        fresh = [(s, key_of(s.id)) for s in rows]
        fresh = [(s, key) for s, key in fresh if key not in self._head_keys]  # arrived live already
        if fresh:
            first = self.rowCount()
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            for signal, key in fresh:
                self._tail.append(signal, key, self._tables)
            self.endInsertRows()
        self._set_loading(False)

    def _page_failed(self, generation: int, exc: TnmError) -> None:
        if generation == self._generation:
            self._set_loading(False)
            self.load_failed.emit(exc.message)

    def _set_loading(self, loading: bool) -> None:
        if loading != self._loading:
            self._loading = loading
            self.loading_changed.emit(loading)

    # Live -------------------------------------------------------------------------------------

    def apply_change(self, change: Change) -> None:
        """Queue a live change of ``tv_signals``; applied on the next tick."""
        if isinstance(change.row, TvSignal):
            self._pending[change.id] = change.row
            if not self._flush.isActive():
                self._flush.start()

    def flush(self) -> None:
        """Apply the queued live changes now."""
        self._flush.stop()
        pending, self._pending = self._pending, {}
        arrived: list[tuple[TvSignal, bytes]] = []
        last = len(self._tail) - 1
        oldest = self._tail.received[last] if last >= 0 else None
        for signal in pending.values():
            key = key_of(signal.id)
            row = self._row_of_key(key, micros(signal.received_at))
            if row is not None:
                store, i = self._locate(row)
                store.update(i, signal, self._tables)
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
            elif matches(self._filter, signal) and (
                    self._exhausted or oldest is None or micros(signal.received_at) > oldest):
                # Older than every loaded row: paging will bring it in its place.
                arrived.append((signal, key))
        if not arrived:
            return
        arrived.sort(key=lambda item: (item[0].received_at, item[0].id))
        self.beginInsertRows(QModelIndex(), 0, len(arrived) - 1)
        for signal, key in arrived:
            self._head.append(signal, key, self._tables)
            self._head_keys.add(key)
        self.endInsertRows()
        self.rows_arrived.emit(len(arrived))

    def _on_flush_timeout(self) -> None:
        self.flush()

    # Rows -------------------------------------------------------------------------------------

    def _locate(self, row: int) -> tuple[Store, int]:
        head = len(self._head)
        if row < head:
            return self._head, head - 1 - row
        return self._tail, row - head

    def _row_of_key(self, key: bytes, received: int) -> int | None:
        if key in self._head_keys:
            i = self._head.rfind(key)
            if i is not None:
                return len(self._head) - 1 - i
        i = self._tail.find_sorted(key, received)
        return None if i is None else len(self._head) + i

    def row_of(self, signal_id: str, received_at: datetime) -> int | None:
        """The row showing a signal, if loaded."""
        return self._row_of_key(key_of(signal_id), micros(received_at))

    def signal_id(self, row: int) -> str:
        """The id of the signal on ``row``."""
        store, i = self._locate(row)
        return store.id_at(i)

    # Qt model API -----------------------------------------------------------------------------

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._head) + len(self._tail)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def flags(self, index: Index) -> Qt.ItemFlag:
        return _FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _ROLE.DisplayRole) -> object:
        if orientation is Qt.Orientation.Horizontal and role == _ROLE.DisplayRole and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = _ROLE.DisplayRole) -> object:
        # Called a few thousand times per repaint: roles we do not serve leave before any lookup.
        if role not in _SERVED or not index.isValid():
            return None
        row = index.row()
        head = len(self._head.received)
        if row < head:
            store, i = self._head, head - 1 - row
        else:
            store, i = self._tail, row - head
            if i >= len(store.received):
                return None
        column = index.column()
        if role == _ROLE.DisplayRole:
            return self._display(store, i, column)
        if role == _ROLE.BackgroundRole:
            return self._colors()[1][store.status[i]]
        if role == _ROLE.ForegroundRole:
            return self._colors()[0][store.status[i]] if column == STATUS else None
        if role == _ROLE.TextAlignmentRole:
            return _RIGHT if column in (PRICE, FILL) else None
        if role == _ROLE.ToolTipRole:
            return self._tables.errors.values[store.error[i]] if column == ERROR else None
        if role == ID_ROLE:
            return store.id_at(i)
        return STATUSES[store.status[i]].value  # STATUS_ROLE

    def row_look(self, row: int) -> tuple[QColor, QColor, list[str]] | None:
        """How ``row`` is painted: its tint, its status word's colour and each column's text."""
        head = len(self._head.received)
        if row < head:
            store, i = self._head, head - 1 - row
        else:
            store, i = self._tail, row - head
            if i >= len(store.received):
                return None
        status = store.status[i]
        text_colors, row_colors = self._colors()
        return row_colors[status], text_colors[status], [self._display(store, i, c) for c in range(len(COLUMNS))]

    def _colors(self) -> tuple[list[QColor], list[QColor]]:
        # Status colours per theme, made once rather than per cell.
        dark = theme.is_dark()
        if self._palette_for is not dark:
            self._palette = ([theme.status_text_color(s) for s in STATUSES],
                             [theme.status_row_color(s) for s in STATUSES])
            self._palette_for = dark
        return self._palette

    def _display(self, store: Store, i: int, column: int) -> str:
        if column == RECEIVED:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(store.received[i] // 1_000_000))
        if column == STRATEGY:
            strategy_id = self._tables.strategies.values[store.strategy[i]] or ""
            return self._names.get(strategy_id, strategy_id[:8])
        if column == SYMBOL:
            return self._tables.words.values[store.symbol[i]] or ""
        if column == ACTION:
            return (self._tables.words.values[store.action[i]] or "").upper()
        if column == PRICE:
            return fmt.price(None if math.isnan(store.price[i]) else store.price[i])
        if column == STATUS:
            return STATUSES[store.status[i]].value.capitalize()
        if column == FILL:
            return fmt.price(None if math.isnan(store.fill[i]) else store.fill[i])
        if column == ORDER:
            return store.order_at(i)
        if column == ERROR:
            return self._tables.errors.values[store.error[i]] or ""
        return ""
