"""The Strategies view: the table, the webhook of the selected strategy, and what can be done to it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.data.port import Change
from tnm_desktop.domain import BrokerConnection, Strategy, StrategyStats
from tnm_desktop.errors import TnmError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.strategies_model import StrategiesModel
from tnm_desktop.gui.pages.strategy_dialog import StrategyDialog
from tnm_desktop.gui.pages.webhook_panel import WebhookPanel
from tnm_desktop.gui.pages.webhook_reach import ReachBanner
from tnm_desktop.gui.widgets import BusyIndicator, InlineMessage, ask
from tnm_desktop.gui.widgets.tables import remember_columns, setup_table
from tnm_desktop.profiles import ProfileStore

# New signals change "last signal" and "signals today": re-read the stats at most this often.
STATS_DELAY_MS = 1000


@dataclass(frozen=True)
class _Loaded:
    strategies: list[Strategy]
    brokers: list[BrokerConnection]
    stats: list[StrategyStats]


class StrategiesView(QWidget):
    """TradingView strategies and their webhooks."""

    def __init__(self, ctx: ViewContext, parent: QWidget | None = None, *, store: ProfileStore | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._brokers: list[BrokerConnection] = []
        self.model = StrategiesModel(self)

        self.new_button = QPushButton("New strategy…")
        self.new_button.clicked.connect(self._on_new_button_clicked)
        self.edit_button = QPushButton("Edit…")
        self.edit_button.clicked.connect(self._on_edit_button_clicked)
        self.enable_button = QPushButton("Disable")
        self.enable_button.clicked.connect(self._on_enable_button_clicked)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.busy = BusyIndicator()
        self.message = InlineMessage()
        self.reach = ReachBanner(ctx, store=store)
        self.reach.changed.connect(self._on_reach_changed)
        toolbar = QHBoxLayout()
        for button in (self.new_button, self.edit_button, self.enable_button, self.delete_button):
            toolbar.addWidget(button)
        toolbar.addWidget(self.busy)
        toolbar.addStretch(1)

        self.table = QTableView()
        self.table.setObjectName("strategies_table")
        self.table.setModel(self.model)
        setup_table(self.table, widths={0: 190, 1: 170, 2: 80, 3: 100, 5: 150, 6: 100}, stretch=4)
        remember_columns(self.table, ctx.settings, "strategies")
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.webhook = WebhookPanel(ctx)
        self.webhook.strategy_changed.connect(self._on_webhook_strategy_changed)
        self.webhook_box = QGroupBox("Webhook")
        QVBoxLayout(self.webhook_box).addWidget(self.webhook)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.webhook_box)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)  # the webhook panel keeps its natural height
        splitter.setCollapsible(1, False)

        layout = QVBoxLayout(self)
        layout.addLayout(toolbar)
        layout.addWidget(self.reach)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)

        self._stats_timer = QTimer(self)
        self._stats_timer.setSingleShot(True)
        self._stats_timer.setInterval(STATS_DELAY_MS)
        self._stats_timer.timeout.connect(self._on_stats_timer_timeout)
        ctx.live.signal_changed.connect(self._on_live_signal_changed)
        self._update_buttons()
        self.reach.refresh()
        self.reload()

    # Loading ----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Load strategies, broker connections and stats."""
        self.busy.set_busy(True, "Loading…")
        self._ctx.tasks.spawn(self._load(), name="strategies", key=f"strategies-{id(self)}",
                              on_result=self._loaded, on_error=self._failed)

    async def _load(self) -> _Loaded:
        data = self._ctx.services.data
        strategies, brokers, stats = await asyncio.gather(
            data.list_strategies(), data.list_broker_connections(), data.strategy_stats())
        return _Loaded(strategies, brokers, stats)

    def _loaded(self, loaded: _Loaded) -> None:
        self.busy.set_busy(False)
        selected = self.selected()
        self._brokers = loaded.brokers
        self.model.set_all(loaded.strategies, {b.id: b.name for b in loaded.brokers}, loaded.stats)
        row = self.model.row_of(selected.id) if selected else None
        self.select_row(row if row is not None else 0)
        self._update_buttons()

    def _failed(self, exc: TnmError) -> None:
        self.busy.set_busy(False)
        self.message.show_error(exc.message)

    # Selection --------------------------------------------------------------------------------

    def selected(self) -> Strategy | None:
        """The selected strategy."""
        rows = self.table.selectionModel().selectedRows()
        return self.model.strategy(rows[0].row()) if rows else None

    def select_row(self, row: int) -> None:
        """Select a row (nothing when the table is empty)."""
        if 0 <= row < self.model.rowCount():
            self.table.selectRow(row)
        else:
            self.webhook.show_strategy(None)

    def _on_table_selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self.webhook.show_strategy(self.selected())
        self._update_buttons()

    def _update_buttons(self) -> None:
        strategy = self.selected()
        for button in (self.edit_button, self.enable_button, self.delete_button):
            button.setEnabled(strategy is not None)
        self.enable_button.setText("Enable" if strategy is not None and not strategy.is_enabled else "Disable")
        self.webhook_box.setTitle(f"Webhook of “{strategy.name}”" if strategy else "Webhook")

    def _show_stored(self, strategy: Strategy) -> None:
        self.table.selectRow(self.model.upsert(strategy))
        self.webhook.show_strategy(strategy)
        self._update_buttons()

    # Actions ----------------------------------------------------------------------------------

    def open_dialog(self, strategy: Strategy | None) -> StrategyDialog:
        """Open the create/edit dialog (non-blocking) and return it."""
        self.message.clear()
        dialog = StrategyDialog(self._ctx, self._brokers, strategy, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.saved.connect(self._on_dialog_saved)
        dialog.open()
        return dialog

    def _on_new_button_clicked(self) -> None:
        self.open_dialog(None)

    def _on_edit_button_clicked(self) -> None:
        if (strategy := self.selected()) is not None:
            self.open_dialog(strategy)

    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        self.open_dialog(self.model.strategy(index.row()))

    def _on_dialog_saved(self, strategy: Strategy) -> None:
        self._show_stored(strategy)
        self.message.show_info(f"Saved “{strategy.name}”.")

    def _on_webhook_strategy_changed(self, strategy: Strategy) -> None:
        self.model.upsert(strategy)
        self.table.selectRow(self.model.row_of(strategy.id) or 0)

    def _on_enable_button_clicked(self) -> None:
        strategy = self.selected()
        if strategy is None:
            return
        self.busy.set_busy(True, "Saving…")
        self._ctx.tasks.spawn(self._ctx.services.data.set_strategy_enabled(strategy.id, not strategy.is_enabled),
                              name="enable-strategy", key=f"strategy-action-{id(self)}",
                              on_result=self._on_enabled, on_error=self._failed)

    def _on_enabled(self, strategy: Strategy) -> None:
        self.busy.set_busy(False)
        self._show_stored(strategy)
        self.message.show_info(f"“{strategy.name}” is {'enabled' if strategy.is_enabled else 'disabled'}."
                               + ("" if strategy.is_enabled else " Its alerts are logged as discarded."))

    def _on_delete_button_clicked(self) -> None:
        strategy = self.selected()
        if strategy is None:
            return
        ask(self, "Delete strategy", f"Delete “{strategy.name}” and its signal log?", "Delete",
            lambda: self._delete(strategy), destructive=True,
            details="Alerts sent to its webhook URL will be refused. This cannot be undone.")

    def _delete(self, strategy: Strategy) -> None:
        self.busy.set_busy(True, "Deleting…")
        self._ctx.tasks.spawn(self._ctx.services.data.delete_strategy(strategy.id), name="delete-strategy",
                              key=f"strategy-action-{id(self)}", on_result=lambda _none: self._deleted(strategy),
                              on_error=self._delete_failed)

    def _deleted(self, strategy: Strategy) -> None:
        self.busy.set_busy(False)
        row = self.model.row_of(strategy.id) or 0
        self.model.remove(strategy.id)
        self.select_row(min(row, self.model.rowCount() - 1))
        self._update_buttons()
        self.message.show_info(f"Deleted “{strategy.name}”.")

    def _delete_failed(self, exc: TnmError) -> None:
        self.busy.set_busy(False)
        self.message.show_error(f"Could not delete the strategy: {exc.message}")

    # Live -------------------------------------------------------------------------------------

    def _on_live_signal_changed(self, change: Change) -> None:
        if change.op == "insert" and not self._stats_timer.isActive():
            self._stats_timer.start()

    def _on_stats_timer_timeout(self) -> None:
        self._ctx.tasks.spawn(self._ctx.services.data.strategy_stats(), name="strategy-stats",
                              key=f"strategy-stats-{id(self)}", on_result=self.model.set_stats,
                              on_error=lambda _exc: None)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        # Settings may have changed the webhook base URL or the receiver's port.
        self.reach.refresh()
        self.webhook.refresh()

    def _on_reach_changed(self) -> None:
        self.webhook.refresh()
        self.message.show_info(f"The webhook URLs now start with {self._ctx.services.webhook_base_url}/tv/ — "
                               "update them in your TradingView alerts.")
