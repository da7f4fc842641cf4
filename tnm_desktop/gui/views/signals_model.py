"""The signal log as a table model built for a million rows.

Storage: rows live in two append-only column stores — ``tail`` holds pages from the database
(newest first, so appending a page appends at the bottom) and ``head`` holds rows that arrived
live (in arrival order, shown reversed above the tail). Each store keeps columns as arrays:
ids packed 16 bytes apiece, times as integer microseconds (exact, so the keyset cursor can be
rebuilt), symbols and strategies as codes into small intern tables, prices as doubles (NaN for
none); the rare order ids and error texts live in dicts. About 50 bytes a row, against ~200 for
a tuple per row (NOTES_QT).

Paging: ``fetchMore`` starts one async page load (keyset cursor from the tail's last row) and
returns at once; the rows are appended when they arrive. ``reload`` preempts any load in flight.

Live: changes are queued and applied every ``coalesce_ms`` — new rows in ONE ``beginInsertRows``
at the top per tick, known rows as one ``dataChanged`` each.
"""

from __future__ import annotations

import math
import uuid
from array import array
from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, Signal

from tnm_desktop.data.port import Change, DataPort
from tnm_desktop.domain import Signal as TvSignal
from tnm_desktop.domain import SignalCursor, SignalFilter, SignalStatus
from tnm_desktop.errors import TnmError
from tnm_desktop.gui import fmt, theme
from tnm_desktop.gui.tasks import TaskRunner

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STATUSES = list(SignalStatus)
_ROLE = Qt.ItemDataRole
ID_ROLE = Qt.ItemDataRole.UserRole
STATUS_ROLE = Qt.ItemDataRole.UserRole + 1

COLUMNS = ("Received", "Strategy", "Symbol", "Action", "Price", "Status", "Fill price", "Error", "Broker order")
RECEIVED, STRATEGY, SYMBOL, ACTION, PRICE, STATUS, FILL, ERROR, ORDER = range(len(COLUMNS))
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()  # the default parent: a module-level constant, not a call per default


def micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def matches(filters: SignalFilter, signal: TvSignal) -> bool:
    """Whether the database would list ``signal`` under ``filters`` (for live rows)."""
    return ((filters.strategy_id is None or signal.strategy_id == filters.strategy_id)
            and (filters.status is None or signal.status is filters.status)
            and (filters.symbol is None or (signal.symbol or "") == filters.symbol.upper())
            and (filters.since is None or signal.received_at >= filters.since)
            and (filters.until is None or signal.received_at < filters.until))


class _Interned:
    """Small table of repeated strings (symbols, strategy ids); code 0 is None."""

    def __init__(self) -> None:
        self.values: list[str | None] = [None]
        self._codes: dict[str | None, int] = {None: 0}

    def code(self, value: str | None) -> int:
        found = self._codes.get(value)
        if found is None:
            found = self._codes[value] = len(self.values)
            self.values.append(value)
        return found


class _Store:
    """Append-only column arrays of signal rows."""

    def __init__(self) -> None:
        self.ids = bytearray()
        self.received = array("q")
        self.strategy = array("I")
        self.symbol = array("I")
        self.action = array("I")
        self.status = array("B")
        self.price = array("d")
        self.fill = array("d")
        self.order_ids: dict[int, str] = {}
        self.errors: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.received)

    def append(self, signal: TvSignal, key: bytes, names: _Interned, symbols: _Interned) -> None:
        self.ids += key
        self.received.append(micros(signal.received_at))
        self.strategy.append(names.code(signal.strategy_id))
        self.symbol.append(symbols.code(signal.symbol))
        self.action.append(symbols.code(signal.action))
        self.price.append(math.nan if signal.price is None else signal.price)
        self.status.append(0)
        self.fill.append(math.nan)
        self.update(len(self) - 1, signal)

    def update(self, i: int, signal: TvSignal) -> None:
        # What changes after a signal is logged: its resolution.
        self.status[i] = _STATUSES.index(signal.status)
        self.fill[i] = math.nan if signal.fill_price is None else signal.fill_price
        for column, value in ((self.order_ids, signal.broker_order_id), (self.errors, signal.error_message)):
            if value:
                column[i] = value
            else:
                column.pop(i, None)

    def find(self, key: bytes, *, from_end: bool) -> int | None:
        # bytes.find over the packed ids runs in C: a few ms at a million rows, no index to keep.
        ids = self.ids
        pos = ids.rfind(key) if from_end else ids.find(key)
        while pos != -1 and pos % 16:
            pos = ids.rfind(key, 0, pos + 15) if from_end else ids.find(key, pos + 1)
        return None if pos == -1 else pos // 16

    def id_at(self, i: int) -> str:
        return str(uuid.UUID(bytes=bytes(self.ids[i * 16:i * 16 + 16])))


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
                 parent: Any = None) -> None:
        super().__init__(parent)
        self._data = data
        self._tasks = tasks
        self._page_size = page_size
        self._key = f"signals-page-{id(self)}"
        self._filter = SignalFilter()
        self._head = _Store()
        self._tail = _Store()
        self._head_keys: set[bytes] = set()
        self._strategies = _Interned()
        self._symbols = _Interned()
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
        self._head, self._tail, self._head_keys = _Store(), _Store(), set()
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
            after = SignalCursor(_EPOCH + timedelta(microseconds=tail.received[last]), tail.id_at(last))
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
        fresh = [(s, uuid.UUID(s.id).bytes) for s in rows]
        fresh = [(s, key) for s, key in fresh if key not in self._head_keys]  # arrived live already
        if fresh:
            first = self.rowCount()
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            for signal, key in fresh:
                self._tail.append(signal, key, self._strategies, self._symbols)
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
            key = uuid.UUID(signal.id).bytes
            row = self._row_of_key(key)
            if row is not None:
                store, i = self._locate(row)
                store.update(i, signal)
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
            self._head.append(signal, key, self._strategies, self._symbols)
            self._head_keys.add(key)
        self.endInsertRows()
        self.rows_arrived.emit(len(arrived))

    def _on_flush_timeout(self) -> None:
        self.flush()

    # Rows -------------------------------------------------------------------------------------

    def _locate(self, row: int) -> tuple[_Store, int]:
        head = len(self._head)
        if row < head:
            return self._head, head - 1 - row
        return self._tail, row - head

    def _row_of_key(self, key: bytes) -> int | None:
        i = self._head.find(key, from_end=True) if key in self._head_keys else None
        if i is not None:
            return len(self._head) - 1 - i
        i = self._tail.find(key, from_end=False)
        return None if i is None else len(self._head) + i

    def row_of(self, signal_id: str) -> int | None:
        """The row showing a signal, if loaded."""
        return self._row_of_key(uuid.UUID(signal_id).bytes)

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
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _ROLE.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == _ROLE.DisplayRole and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = _ROLE.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self.rowCount():
            return None
        store, i = self._locate(index.row())
        column = index.column()
        if role == _ROLE.DisplayRole:
            return self._display(store, i, column)
        if role == _ROLE.ForegroundRole and column == STATUS:
            return theme.status_text_color(_STATUSES[store.status[i]])
        if role == _ROLE.BackgroundRole:
            return theme.status_row_color(_STATUSES[store.status[i]])
        if role == _ROLE.TextAlignmentRole and column in (PRICE, FILL):
            return _RIGHT
        if role == _ROLE.ToolTipRole and column == ERROR:
            return store.errors.get(i)
        if role == ID_ROLE:
            return store.id_at(i)
        if role == STATUS_ROLE:
            return _STATUSES[store.status[i]].value
        return None

    def _display(self, store: _Store, i: int, column: int) -> str:
        if column == RECEIVED:
            moment = _EPOCH + timedelta(microseconds=store.received[i])
            return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        if column == STRATEGY:
            strategy_id = self._strategies.values[store.strategy[i]] or ""
            return self._names.get(strategy_id, strategy_id[:8])
        if column == SYMBOL:
            return self._symbols.values[store.symbol[i]] or ""
        if column == ACTION:
            return (self._symbols.values[store.action[i]] or "").upper()
        if column == PRICE:
            return fmt.price(None if math.isnan(store.price[i]) else store.price[i])
        if column == STATUS:
            return _STATUSES[store.status[i]].value.capitalize()
        if column == FILL:
            return fmt.price(None if math.isnan(store.fill[i]) else store.fill[i])
        if column == ORDER:
            return store.order_ids.get(i, "")
        if column == ERROR:
            return store.errors.get(i, "")
        return ""
