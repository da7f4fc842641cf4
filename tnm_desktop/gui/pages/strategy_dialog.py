"""Create or edit a strategy: name, the broker connections it trades on, risk override, allowed pairs,
what an opposite signal does, enabled, and how its alerts are read (PineConnector's EA settings, the
trading window)."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.data.port import DataPort
from tnm_desktop.domain import BrokerConnection, Strategy, StrategyDraft
from tnm_desktop.domain.alerts import OPPOSITE_CHOICES, opposite_explained
from tnm_desktop.domain.routing import StrategyConnection
from tnm_desktop.errors import TnmError, UserError
from tnm_desktop.gui.pages.context import ViewContext
from tnm_desktop.gui.pages.strategy_orders import AlertSettings, ConnectionsTable
from tnm_desktop.gui.widgets import BusyIndicator, InlineMessage

# TradingView tickers as the alert's {{ticker}} sends them: EURUSD, XAUUSD, US30, BTCUSDT.P…
_PAIR = re.compile(r"^[A-Z0-9][A-Z0-9._!-]{1,29}$")
MAX_NAME = 100


def parse_pair(text: str) -> str:
    """A pair as stored (upper case, exchange prefix dropped); UserError when it cannot be one."""
    pair = text.strip().upper().split(":")[-1]
    if not _PAIR.match(pair):
        raise UserError(f"“{text.strip()}” is not a symbol TradingView sends (like EURUSD or XAUUSD).",
                        code="invalid")
    return pair


class StrategyDialog(QDialog):
    """The strategy form; saves through the data port and shows its refusals inline.

    Args:
        ctx: The window's context.
        brokers: The broker connections to choose from.
        strategy: The strategy to edit, or None to create one.

    Signals:
        saved(object): the Strategy as stored.
    """

    saved = Signal(object)

    def __init__(self, ctx: ViewContext, brokers: list[BrokerConnection], strategy: Strategy | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("strategy_dialog")
        self.setWindowTitle("Edit strategy" if strategy else "New strategy")
        self._ctx = ctx
        self._strategy = strategy

        self.name = QLineEdit(strategy.name if strategy else "")
        self.name.setMaxLength(MAX_NAME)
        self.name.setPlaceholderText("e.g. London breakout")
        self.connections = ConnectionsTable(brokers)
        if strategy is not None:
            self.connections.set_connections([StrategyConnection(strategy.broker_connection_id)])
        elif brokers:
            self.connections.check(brokers[0].id)
        self.alerts = AlertSettings(strategy)
        self.override_risk = QCheckBox("Use its own risk per trade")
        self.risk = QDoubleSpinBox()
        self.risk.setRange(0.01, 100.0)
        self.risk.setDecimals(2)
        self.risk.setSingleStep(0.25)
        self.risk.setSuffix(" %")
        self.risk.setValue(strategy.risk_override_pct if strategy and strategy.risk_override_pct else 1.0)
        self.override_risk.setChecked(bool(strategy and strategy.risk_override_pct is not None))
        self.override_risk.toggled.connect(self.risk.setEnabled)
        self.risk.setEnabled(self.override_risk.isChecked())
        risk_row = QHBoxLayout()
        risk_row.addWidget(self.override_risk)
        risk_row.addWidget(self.risk)
        risk_row.addStretch(1)

        self.only_pairs = QCheckBox("Only trade these pairs (others are discarded)")
        self.pairs = QListWidget()
        self.pairs.setMaximumHeight(110)
        self.pair_input = QLineEdit()
        self.pair_input.setPlaceholderText("Add a symbol, e.g. EURUSD")
        self.pair_input.returnPressed.connect(self._on_add_pair_clicked)
        add = QPushButton("Add")
        add.setAutoDefault(False)
        add.clicked.connect(self._on_add_pair_clicked)
        self.remove_pair = QPushButton("Remove")
        self.remove_pair.setAutoDefault(False)
        self.remove_pair.clicked.connect(self._on_remove_pair_clicked)
        for pair in (strategy.allowed_pairs or ()) if strategy else ():
            self.pairs.addItem(pair)
        self.only_pairs.setChecked(bool(strategy and strategy.allowed_pairs is not None))
        self.only_pairs.toggled.connect(self._on_only_pairs_toggled)
        pair_row = QHBoxLayout()
        pair_row.addWidget(self.pair_input, 1)
        pair_row.addWidget(add)
        pair_row.addWidget(self.remove_pair)
        pairs_box = QVBoxLayout()
        pairs_box.addWidget(self.only_pairs)
        pairs_box.addWidget(self.pairs)
        pairs_box.addLayout(pair_row)
        self._on_only_pairs_toggled(self.only_pairs.isChecked())

        self.opposite = QComboBox()
        self.opposite.setObjectName("opposite_signal")
        for choice, (title, _text) in OPPOSITE_CHOICES.items():
            self.opposite.addItem(title, choice.value)
        self.opposite.setCurrentIndex(max(self.opposite.findData(strategy.opposite_signal if strategy else "close"), 0))
        self.opposite_note = QLabel()
        self.opposite_note.setWordWrap(True)
        self.opposite_note.setStyleSheet("color: palette(placeholder-text);")
        self.opposite.currentIndexChanged.connect(self._on_opposite_current_index_changed)
        self._on_opposite_current_index_changed(self.opposite.currentIndex())

        self.enabled = QCheckBox("Enabled — alerts become trades")
        self.enabled.setChecked(strategy.is_enabled if strategy else True)
        self.message = InlineMessage()
        self.busy = BusyIndicator()
        if not brokers:
            self.message.show_error("Add a broker connection in Settings first: a strategy trades on one.")

        general = QWidget()
        form = QFormLayout(general)
        form.addRow("Name", self.name)
        form.addRow("Broker connections", self.connections)
        form.addRow("Risk override", risk_row)
        form.addRow("Allowed pairs", pairs_box)
        form.addRow("Opposite signal", self.opposite)
        form.addRow("", self.opposite_note)
        form.addRow("", self.enabled)
        self.tabs = QTabWidget()
        self.tabs.addTab(general, "Strategy")
        self.tabs.addTab(self.alerts, "Alerts")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.busy)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.message)
        layout.addLayout(bottom)
        self.resize(620, 560)
        if strategy is not None:  # its connections, with their multipliers, come from the database
            self.busy.set_busy(True, "Loading…")
            self.buttons.setEnabled(False)
            ctx.tasks.spawn(ctx.services.data.strategy_connections(strategy.id), name="strategy-connections",
                            key=f"strategy-connections-{id(self)}", on_result=self._connections_loaded,
                            on_error=self._failed)

    def draft(self) -> StrategyDraft:
        """The strategy the form describes; UserError saying what to fix when it is not valid."""
        name = self.name.text().strip()
        if not name:
            raise UserError("Give the strategy a name.", code="invalid")
        broker_id = self.connections.connections()[0].broker_connection_id
        risk = None
        if self.override_risk.isChecked():
            risk = round(self.risk.value(), 2)
            if not 0 < risk <= 100:
                raise UserError("The risk override must be more than 0 % and at most 100 %.", code="invalid")
        pairs = None
        if self.only_pairs.isChecked():
            pairs = tuple(dict.fromkeys(parse_pair(self.pairs.item(i).text()) for i in range(self.pairs.count())))
            if not pairs:
                raise UserError("Add at least one pair, or allow all pairs.", code="invalid")
        target_type, entry_type, account_filter = self.alerts.values()
        return StrategyDraft(name=name, broker_connection_id=str(broker_id), risk_override_pct=risk,
                             allowed_pairs=pairs, is_enabled=self.enabled.isChecked(),
                             opposite_signal=str(self.opposite.currentData()), target_type=target_type,
                             entry_type=entry_type, account_filter=account_filter,
                             trading_window=self.alerts.trading_window())

    # Slots ------------------------------------------------------------------------------------

    def _on_opposite_current_index_changed(self, _index: int) -> None:
        self.opposite_note.setText(opposite_explained(str(self.opposite.currentData())))

    def _on_only_pairs_toggled(self, only: bool) -> None:
        for widget in (self.pairs, self.pair_input, self.remove_pair):
            widget.setEnabled(only)

    def _on_add_pair_clicked(self) -> None:
        text = self.pair_input.text()
        if not text.strip():
            return
        try:
            pair = parse_pair(text)
        except UserError as exc:
            self.message.show_error(exc.message)
            return
        self.message.clear()
        if not self.pairs.findItems(pair, Qt.MatchFlag.MatchExactly):
            self.pairs.addItem(pair)
        self.pair_input.clear()

    def _on_remove_pair_clicked(self) -> None:
        for item in self.pairs.selectedItems():
            self.pairs.takeItem(self.pairs.row(item))

    def _on_buttons_accepted(self) -> None:
        try:
            draft = self.draft()
            connections = self.connections.connections()
        except UserError as exc:
            self.message.show_error(exc.message)
            return
        self._set_busy(True)
        self._ctx.tasks.spawn(_save(self._ctx.services.data, self._strategy, draft, connections),
                              name="save-strategy", key=f"save-strategy-{id(self)}",
                              on_result=self._saved, on_error=self._failed)

    def _connections_loaded(self, connections: list[StrategyConnection]) -> None:
        self.busy.set_busy(False)
        self.buttons.setEnabled(True)
        if connections:
            self.connections.set_connections(connections)

    def _saved(self, strategy: Strategy) -> None:
        self._set_busy(False)
        self.saved.emit(strategy)
        self.accept()

    def _failed(self, exc: TnmError) -> None:
        self._set_busy(False)
        self.message.show_error(exc.message)

    def _set_busy(self, busy: bool) -> None:
        self.busy.set_busy(busy, "Saving…")
        self.buttons.setEnabled(not busy)


async def _save(data: DataPort, strategy: Strategy | None, draft: StrategyDraft,
                connections: list[StrategyConnection]) -> Strategy:
    saved = await (data.update_strategy(strategy.id, draft) if strategy else data.create_strategy(draft))
    await data.set_strategy_connections(saved.id, connections)
    return saved
