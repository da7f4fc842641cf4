"""The Signals view: the live signal log with filters, counts per status and a detail pane."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QByteArray, QDateTime, QEvent, QItemSelection, QModelIndex, Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.data.port import Change
from tnm_desktop.domain import Signal, SignalFilter, SignalStatus, Strategy
from tnm_desktop.errors import TnmError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.signal_detail import SignalDetail
from tnm_desktop.gui.pages.signals_model import SignalsModel
from tnm_desktop.gui.pages.signals_table import SignalsTable
from tnm_desktop.gui.widgets import BusyIndicator, InlineMessage, theme
from tnm_desktop.gui.widgets.tables import remember_columns, setup_table

COUNTS_EVERY_MS = 5000
_RANGES = [("Any time", None), ("Last hour", timedelta(hours=1)), ("Last 24 hours", timedelta(days=1)),
           ("Last 7 days", timedelta(days=7)), ("Last 30 days", timedelta(days=30)), ("Custom range…", None)]
_CUSTOM = len(_RANGES) - 1


def _utc(moment: QDateTime) -> datetime:
    return datetime.fromtimestamp(moment.toMSecsSinceEpoch() / 1000, UTC)


class SignalsView(QWidget):
    """Every TradingView alert received, newest first, updated live."""

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._scroll_before: int | None = None
        self._counts: dict[SignalStatus, int] | None = None
        self._strategies: list[Strategy] = []
        self.model = SignalsModel(ctx.services.data, ctx.tasks, parent=self)

        self.strategy = QComboBox()
        self.strategy.addItem("All strategies", None)
        self.status = QComboBox()
        self.status.addItem("Any status", None)
        for status in SignalStatus:
            self.status.addItem(status.value.capitalize(), status.value)
        self.symbol = QLineEdit()
        self.symbol.setPlaceholderText("Symbol")
        self.symbol.setClearButtonEnabled(True)
        self.symbol.setMaximumWidth(120)
        self.range = QComboBox()
        for title, _span in _RANGES:
            self.range.addItem(title)
        now = QDateTime.currentDateTime()
        self.since = QDateTimeEdit(now.addDays(-1))
        self.until = QDateTimeEdit(now.addSecs(3600))
        for edit in (self.since, self.until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.hide()
        self.busy = BusyIndicator()
        filters = QHBoxLayout()
        for widget in (self.strategy, self.status, self.symbol, self.range, self.since, self.until):
            filters.addWidget(widget)
        filters.addWidget(self.busy)
        filters.addStretch(1)

        self.counts: dict[SignalStatus, QLabel] = {}
        counts = QHBoxLayout()
        for status in SignalStatus:
            label = QLabel()
            label.setObjectName(f"count_{status.value}")
            self.counts[status] = label
            counts.addWidget(label)
        self.total = QLabel()
        counts.addWidget(self.total)
        counts.addStretch(1)
        self.message = InlineMessage()

        self.table = SignalsTable(self.model)
        self.table.setObjectName("signals_table")
        # What fits beside the detail pane in a 1280 px window, the error taking the rest.
        setup_table(self.table, widths={0: 135, 1: 120, 2: 65, 3: 55, 4: 65, 5: 75, 6: 75, 7: 75})
        remember_columns(self.table, ctx.settings, "signals/v2")  # v2: the error moved last
        self.detail = SignalDetail(ctx)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        saved = ctx.settings.value("signals/splitter")
        if isinstance(saved, QByteArray):
            self.splitter.restoreState(saved)
        else:
            self.splitter.setSizes([900, 380])  # the log first; the detail pane beside it
        self.splitter.splitterMoved.connect(self._on_splitter_splitter_moved)

        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addLayout(counts)
        layout.addWidget(self.message)
        layout.addWidget(self.splitter, 1)

        self._counts_timer = QTimer(self)
        self._counts_timer.setInterval(COUNTS_EVERY_MS)
        self._counts_timer.timeout.connect(self._on_counts_timer_timeout)
        self._counts_timer.start()
        self._symbol_timer = QTimer(self)
        self._symbol_timer.setSingleShot(True)
        self._symbol_timer.setInterval(400)
        self._symbol_timer.timeout.connect(self._on_symbol_timer_timeout)

        self.strategy.currentIndexChanged.connect(self._on_filter_changed)
        self.status.currentIndexChanged.connect(self._on_filter_changed)
        self.range.currentIndexChanged.connect(self._on_range_current_index_changed)
        self.since.dateTimeChanged.connect(self._on_filter_changed)
        self.until.dateTimeChanged.connect(self._on_filter_changed)
        self.symbol.textEdited.connect(self._on_symbol_text_edited)
        self.model.loading_changed.connect(self._on_model_loading_changed)
        self.model.load_failed.connect(self._on_model_load_failed)
        self.model.rowsAboutToBeInserted.connect(self._on_model_rows_about_to_be_inserted)
        self.model.rowsInserted.connect(self._on_model_rows_inserted)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        ctx.live.signal_changed.connect(self._on_live_signal_changed)
        ctx.live.job_changed.connect(self._on_live_job_changed)
        self._show_counts(None)
        self.reload()

    # Loading ----------------------------------------------------------------------------------

    def current_filter(self) -> SignalFilter:
        """The filter the controls describe."""
        status = self.status.currentData()
        symbol = self.symbol.text().strip().upper() or None
        since = until = None
        index = self.range.currentIndex()
        span = _RANGES[index][1]
        if span is not None:
            since = datetime.now(UTC) - span
        elif index == _CUSTOM:
            since = _utc(self.since.dateTime())
            until = _utc(self.until.dateTime())
        return SignalFilter(strategy_id=self.strategy.currentData(),
                            status=SignalStatus(status) if status else None,
                            symbol=symbol, since=since, until=until)

    def reload(self) -> None:
        """Reload strategies, the log and the counts (after a filter change or coming back online)."""
        self.message.clear()
        self._ctx.tasks.spawn(self._ctx.services.data.list_strategies(), name="signals-strategies",
                              key=f"signals-strategies-{id(self)}", on_result=self._set_strategies,
                              on_error=self._on_model_load_failed_error)
        self.model.reload(self.current_filter())
        self._refresh_counts()

    def _set_strategies(self, strategies: list[Strategy]) -> None:
        self._strategies = strategies
        names = {s.id: s.name for s in strategies}
        self.model.set_strategy_names(names)
        self.detail.set_strategy_names(names)
        current = self.strategy.currentData()
        self.strategy.blockSignals(True)
        self.strategy.clear()
        self.strategy.addItem("All strategies", None)
        for strategy in strategies:
            self.strategy.addItem(strategy.name, strategy.id)
        found = self.strategy.findData(current) if current else 0
        self.strategy.setCurrentIndex(max(found, 0))
        self.strategy.blockSignals(False)

    def _refresh_counts(self) -> None:
        self._ctx.tasks.spawn(self._ctx.services.data.count_signals(self.current_filter()),
                              name="signals-counts", key=f"signals-counts-{id(self)}",
                              on_result=self._show_counts, on_error=lambda _exc: None)

    def _show_counts(self, counts: dict[SignalStatus, int] | None) -> None:
        self._counts = counts
        for status, label in self.counts.items():
            color = theme.status_text_color(status).name()
            number = "…" if counts is None else f"{counts.get(status, 0):,}"
            label.setText(f"<span style='color:{color}'>●</span> {status.value.capitalize()} <b>{number}</b>")
        total = "…" if counts is None else f"{sum(counts.values()):,}"
        self.total.setText(f"Total <b>{total}</b>")

    # Slots ------------------------------------------------------------------------------------

    def _on_filter_changed(self, *_args: object) -> None:
        self.detail.show_signal(None)
        self.model.reload(self.current_filter())
        self._refresh_counts()

    def _on_range_current_index_changed(self, index: int) -> None:
        for edit in (self.since, self.until):
            edit.setVisible(index == _CUSTOM)
        self._on_filter_changed()

    def _on_symbol_text_edited(self, _text: str) -> None:
        self._symbol_timer.start()  # reload once typing pauses

    def _on_symbol_timer_timeout(self) -> None:
        self._on_filter_changed()

    def _on_counts_timer_timeout(self) -> None:
        if self.isVisible():
            self._refresh_counts()

    def _on_model_loading_changed(self, loading: bool) -> None:
        self.busy.set_busy(loading, "Loading signals…")

    def _on_model_load_failed(self, text: str) -> None:
        self.message.show_error(f"Could not load signals: {text}")

    def _on_model_load_failed_error(self, exc: TnmError) -> None:
        self._on_model_load_failed(exc.message)

    def _on_live_signal_changed(self, change: Change) -> None:
        self.model.apply_change(change)
        if change.id == self.detail.signal_id:
            self.detail.refresh()

    def _on_live_job_changed(self, change: Change) -> None:
        shown = self.detail.signal
        if isinstance(shown, Signal) and shown.job_id == change.id:
            self.detail.refresh()

    def _on_table_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        self.detail.show_signal(self.model.signal_id(rows[0].row()) if rows else None)

    def _on_model_rows_about_to_be_inserted(self, parent: QModelIndex, first: int, _last: int) -> None:
        # Only live rows go in at the top; pages are appended at the bottom.
        top_insert = not parent.isValid() and first == 0 and self.model.rowCount() > 0
        self._scroll_before = self.table.verticalScrollBar().value() if top_insert else None

    def _on_model_rows_inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        before, self._scroll_before = self._scroll_before, None
        if before is None or before == 0:
            return  # at the top the user wants to see what arrives
        # Keep the rows the user is looking at in place: move down by the inserted rows' height.
        self.table.updateGeometries()  # the scroll range must include the new rows first
        height = self.table.verticalHeader().defaultSectionSize()
        self.table.verticalScrollBar().setValue(before + (last - first + 1) * height)

    def _on_splitter_splitter_moved(self, _pos: int, _index: int) -> None:
        self._ctx.settings.setValue("signals/splitter", self.splitter.saveState())

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        palette = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)
        if event.type() in palette and hasattr(self, "detail"):
            self._show_counts(self._counts)  # the status colours have a light and a dark variant
            self.detail.recolor()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._refresh_counts()
