"""The strategy dialog's order settings: the accounts it trades on, and how its alerts are read."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PySide6.QtCore import Qt, QTime
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.domain import BrokerConnection, Strategy
from tnm_desktop.domain.orders import TradingWindow
from tnm_desktop.domain.routing import StrategyConnection
from tnm_desktop.errors import UserError

# The choices PineConnector's EA offers (its "Target Type", "Pending Order Entry", "Account Filter").
TARGET_TYPES = (("pips", "Pips from the entry (PineConnector's default)"), ("price", "A price"),
                ("percent", "Percent of the price"))
ENTRY_TYPES = (("pips", "Pips from the market (PineConnector's default)"), ("price", "A price"),
               ("percent", "Percent from the market"))
ACCOUNT_FILTERS = (("balance", "Balance"), ("equity", "Equity"), ("free_margin", "Free margin"),
                   ("margin_level", "Margin level (%)"))
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ZONES = ("UTC", "Europe/London", "Europe/Berlin", "Europe/Zurich", "Europe/Athens", "America/New_York",
         "America/Chicago", "America/Los_Angeles", "Asia/Tokyo", "Asia/Hong_Kong", "Asia/Singapore",
         "Asia/Dubai", "Australia/Sydney")
_OWN_RISK = "the strategy's"


def _combo(choices: tuple[tuple[str, str], ...], current: str) -> QComboBox:
    box = QComboBox()
    for value, text in choices:
        box.addItem(text, value)
    box.setCurrentIndex(max(box.findData(current), 0))
    return box


class ConnectionsTable(QTableWidget):
    """One row per broker connection: trade on it or not, its volume multiplier and its own risk."""

    def __init__(self, brokers: list[BrokerConnection], parent: QWidget | None = None) -> None:
        super().__init__(len(brokers), 3, parent)
        self.setObjectName("strategy_connections")
        self.setHorizontalHeaderLabels(["Trade on", "Volume ×", "Risk per trade"])
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self._ids: list[str] = []
        for row, broker in enumerate(brokers):
            item = QTableWidgetItem(f"{broker.name} ({broker.server})" if broker.server else broker.name)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.setItem(row, 0, item)
            multiplier = QDoubleSpinBox()
            multiplier.setRange(0.01, 100.0)
            multiplier.setDecimals(2)
            multiplier.setSingleStep(0.5)
            multiplier.setValue(1.0)
            self.setCellWidget(row, 1, multiplier)
            risk = QDoubleSpinBox()
            risk.setRange(0.0, 100.0)
            risk.setDecimals(2)
            risk.setSingleStep(0.25)
            risk.setSuffix(" %")
            risk.setSpecialValueText(_OWN_RISK)  # 0: the alert's or the strategy's risk
            self.setCellWidget(row, 2, risk)
            self._ids.append(broker.id)
        self.setMaximumHeight(40 + 30 * max(len(brokers), 2))

    def _name(self, row: int) -> QTableWidgetItem:
        item = self.item(row, 0)
        assert item is not None
        return item

    def _spin(self, row: int, column: int) -> QDoubleSpinBox:
        widget = self.cellWidget(row, column)
        assert isinstance(widget, QDoubleSpinBox)
        return widget

    def set_connections(self, connections: list[StrategyConnection]) -> None:
        """Tick the strategy's connections with their settings; the first one moves to the top."""
        by_id = {c.broker_connection_id: c for c in connections}
        for row, broker_id in enumerate(self._ids):
            chosen = by_id.get(broker_id)
            self._name(row).setCheckState(Qt.CheckState.Checked if chosen else Qt.CheckState.Unchecked)
            self._spin(row, 1).setValue(chosen.volume_multiplier if chosen else 1.0)
            self._spin(row, 2).setValue((chosen.risk_pct or 0.0) if chosen else 0.0)
        if connections and connections[0].broker_connection_id in self._ids:
            self.make_first(connections[0].broker_connection_id)

    def make_first(self, broker_id: str) -> None:
        """Move a connection's row to the top (the strategy's own connection leads)."""
        row = self._ids.index(broker_id)
        if row == 0:
            return
        values = (self._name(row).text(), self._name(row).checkState(), self._spin(row, 1).value(),
                  self._spin(row, 2).value())
        for r in range(row, 0, -1):
            above = (self._name(r - 1).text(), self._name(r - 1).checkState(), self._spin(r - 1, 1).value(),
                     self._spin(r - 1, 2).value())
            self._put(r, above)
        self._put(0, values)
        self._ids.insert(0, self._ids.pop(row))

    def _put(self, row: int, values: tuple[str, Qt.CheckState, float, float]) -> None:
        self._name(row).setText(values[0])
        self._name(row).setCheckState(values[1])
        self._spin(row, 1).setValue(values[2])
        self._spin(row, 2).setValue(values[3])

    def check(self, broker_id: str, checked: bool = True) -> None:
        """Tick (or untick) one connection."""
        self._name(self._ids.index(broker_id)).setCheckState(
            Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def connections(self) -> list[StrategyConnection]:
        """The ticked connections, top first; UserError when none is."""
        out = []
        for row, broker_id in enumerate(self._ids):
            if self._name(row).checkState() is Qt.CheckState.Checked:
                risk = round(self._spin(row, 2).value(), 2)
                out.append(StrategyConnection(broker_id, round(self._spin(row, 1).value(), 2), risk or None))
        if not out:
            raise UserError("Tick at least one broker connection: the strategy trades on it.", code="invalid")
        return out


class AlertSettings(QWidget):
    """How PineConnector's numbers are read, the account filter, and the trading window."""

    def __init__(self, strategy: Strategy | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.target_type = _combo(TARGET_TYPES, strategy.target_type if strategy else "pips")
        self.entry_type = _combo(ENTRY_TYPES, strategy.entry_type if strategy else "pips")
        self.account_filter = _combo(ACCOUNT_FILTERS, strategy.account_filter if strategy else "balance")
        window = strategy.trading_window if strategy else None
        self.use_window = QCheckBox("Open trades only inside a window (closes, cancels and new stops always pass)")
        self.use_window.setChecked(window is not None)
        self.days = [QCheckBox(day) for day in DAYS]
        for number, box in enumerate(self.days, start=1):
            box.setChecked(number in (window.days if window else (1, 2, 3, 4, 5)))
        self.start = QTimeEdit(QTime(*((window.start.hour, window.start.minute) if window else (8, 0))))
        self.end = QTimeEdit(QTime(*((window.end.hour, window.end.minute) if window else (17, 0))))
        for edit in (self.start, self.end):
            edit.setDisplayFormat("HH:mm")
        self.zone = QComboBox()
        self.zone.setEditable(True)
        self.zone.addItems(list(ZONES))
        self.zone.setCurrentText(window.time_zone if window else "UTC")
        days_row = QHBoxLayout()
        for box in self.days:
            days_row.addWidget(box)
        days_row.addStretch(1)
        hours_row = QHBoxLayout()
        hours_row.addWidget(self.start)
        hours_row.addWidget(QLabel("to"))
        hours_row.addWidget(self.end)
        hours_row.addWidget(QLabel("in"))
        hours_row.addWidget(self.zone, 1)
        self.window_box = QWidget()
        window_layout = QVBoxLayout(self.window_box)
        window_layout.setContentsMargins(0, 0, 0, 0)
        window_layout.addLayout(days_row)
        window_layout.addLayout(hours_row)
        self.use_window.toggled.connect(self.window_box.setEnabled)
        self.window_box.setEnabled(self.use_window.isChecked())

        note = QLabel("PineConnector leaves these to its EA's settings; here they belong to the strategy. "
                      "JSON alerts say what they mean by the field's name (sl_pips, sl, entry_pips…).")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(placeholder-text);")
        form = QFormLayout(self)
        form.addRow(note)
        form.addRow("sl=, tp=, tp1…tp3=", self.target_type)
        form.addRow("price=, stoplimit=", self.entry_type)
        form.addRow("accfilter= compares", self.account_filter)
        form.addRow(self.use_window)
        form.addRow("", self.window_box)

    def trading_window(self) -> TradingWindow | None:
        """The window the form describes (None: always); UserError saying what to fix."""
        if not self.use_window.isChecked():
            return None
        days = tuple(n for n, box in enumerate(self.days, start=1) if box.isChecked())
        if not days:
            raise UserError("Tick at least one day for the trading window.", code="invalid")
        start = time(self.start.time().hour(), self.start.time().minute())
        end = time(self.end.time().hour(), self.end.time().minute())
        if start == end:
            raise UserError("The trading window starts and ends at the same time.", code="invalid")
        zone = self.zone.currentText().strip()
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UserError(f"Unknown time zone “{zone}” (for example Europe/London or America/New_York).",
                            code="invalid") from exc
        return TradingWindow(days, start, end, zone)

    def values(self) -> tuple[str, str, str]:
        """(target type, entry type, account filter)."""
        return (str(self.target_type.currentData()), str(self.entry_type.currentData()),
                str(self.account_filter.currentData()))
