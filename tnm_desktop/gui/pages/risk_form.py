"""The trader's sizing defaults and risk limits as a form: each with what it does, validated before saving.

The trading switch is shown here but turned with Stop trading / Start trading at the top of the
window: saving these settings never turns trading back on.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

from tnm_desktop.domain import UserSettings
from tnm_desktop.errors import UserError

NO_LIMIT = "No limit"

# What each setting does, shown under it (the words every refusal uses to name its limit).
EXPLAIN = {
    "risk_percent": "Share of the balance an order risks at its stop, when neither the alert nor the strategy "
                    "says otherwise.",
    "default_sl_pips": "The stop of an order sized by risk when the alert gives none (risk sizing needs one).",
    "default_sl_pips_lots": "The stop of an order of fixed lots when the alert gives none. None: sent without a "
                            "stop.",
    "default_lot_size": "The volume when an alert has neither lots nor a stop to size from.",
    "max_slippage_points": "How far the fill may be from the price the order was sent at.",
    "max_lot_size": "Every order is capped at this volume.",
    "max_open_positions": "New entries are refused while this many positions are open on the account.",
    "max_positions_per_symbol": "New entries are refused while this many positions of the symbol are open.",
    "max_daily_loss_pct": "Loss since the broker's trading day began (closed trades plus open positions), as a "
                          "share of the balance at its start. Once reached, new entries are refused until the next "
                          "trading day and you are told once; closes still run.",
    "close_all_on_daily_loss": "Then also turn trading off and close every position and pending order.",
    "equity_floor": "New entries are refused while the account's equity is below this amount (account currency).",
}


def _spin(low: float, high: float, decimals: int, suffix: str = "", special: str = "") -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(decimals)
    spin.setSuffix(suffix)
    spin.setMinimumWidth(130)
    if special:
        # The minimum stands for "none": the database stores NULL there.
        spin.setSpecialValueText(special)
    return spin


def _count(high: int, suffix: str = "", special: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(0, high)
    spin.setSuffix(suffix)
    spin.setMinimumWidth(130)
    if special:
        spin.setSpecialValueText(special)
    return spin


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(placeholder-text); font-size: 11px;")
    return label


class RiskForm(QWidget):
    """Risk per trade, the default stops and the limits every entry is checked against."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loaded = UserSettings()
        self.risk_percent = _spin(0.01, 100, 2, " %")
        self.risk_percent.setSingleStep(0.25)
        self.default_sl_pips = _spin(0, 100_000, 1, " pips", "None")
        self.default_sl_pips_lots = _spin(0, 100_000, 1, " pips", "None")
        self.default_lot_size = _spin(0.01, 1000, 2, " lots")
        self.max_slippage_points = _count(100_000, " points")
        self.max_lot_size = _spin(0, 1000, 2, " lots", NO_LIMIT)
        self.max_open_positions = _count(1000, "", NO_LIMIT)
        self.max_positions_per_symbol = _count(1000, "", NO_LIMIT)
        self.max_daily_loss_pct = _spin(0, 100, 2, " %", NO_LIMIT)
        self.close_all_on_daily_loss = QCheckBox("Close everything when it is reached")
        self.equity_floor = _spin(0, 1_000_000_000, 2, "", NO_LIMIT)
        self.switch_state = QLabel()
        self.switch_state.setObjectName("trading_switch_state")
        self.switch_state.setWordWrap(True)
        self.notes: dict[str, QLabel] = {}
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        sizing = QLabel("<b>Sizing</b>")
        form.addRow(sizing)
        for key, label in (("risk_percent", "Risk per trade"), ("default_sl_pips", "Default stop, risk-sized"),
                           ("default_sl_pips_lots", "Default stop, fixed lots"),
                           ("default_lot_size", "Default lot size"), ("max_slippage_points", "Maximum slippage")):
            self._add(form, key, label)
        form.addRow(QLabel("<b>Limits</b> — checked right before every entry; closes are never refused"))
        for key, label in (("max_lot_size", "Maximum lot size"), ("max_open_positions", "Maximum open positions"),
                           ("max_positions_per_symbol", "Maximum positions per symbol"),
                           ("max_daily_loss_pct", "Maximum daily loss"), ("close_all_on_daily_loss", ""),
                           ("equity_floor", "Equity floor")):
            self._add(form, key, label)
        form.addRow("Trading", self.switch_state)
        self.max_daily_loss_pct.valueChanged.connect(self._on_max_daily_loss_pct_value_changed)
        self._on_max_daily_loss_pct_value_changed(0)

    def _add(self, form: QFormLayout, key: str, label: str) -> None:
        field: QWidget = getattr(self, key)
        field.setObjectName(key)
        note = _note(EXPLAIN[key])
        self.notes[key] = note
        field.setToolTip(EXPLAIN[key])
        form.addRow(label, field)
        form.addRow("", note)

    def _on_max_daily_loss_pct_value_changed(self, value: float) -> None:
        self.close_all_on_daily_loss.setEnabled(value > 0)

    def set_settings(self, settings: UserSettings) -> None:
        """Show ``settings``."""
        self._loaded = settings
        self.risk_percent.setValue(settings.risk_percent)
        self.default_sl_pips.setValue(settings.default_sl_pips or 0)
        self.default_sl_pips_lots.setValue(settings.default_sl_pips_lots or 0)
        self.default_lot_size.setValue(settings.default_lot_size)
        self.max_slippage_points.setValue(settings.max_slippage_points)
        self.max_lot_size.setValue(settings.max_lot_size or 0)
        self.max_open_positions.setValue(settings.max_open_positions or 0)
        self.max_positions_per_symbol.setValue(settings.max_positions_per_symbol or 0)
        self.max_daily_loss_pct.setValue(settings.max_daily_loss_pct or 0)
        self.close_all_on_daily_loss.setChecked(settings.close_all_on_daily_loss)
        self.equity_floor.setValue(settings.equity_floor or 0)
        self.show_switch(settings.trading_enabled, settings.trading_off_reason)

    def show_switch(self, enabled: bool, reason: str | None) -> None:
        """Say whether trading is on (it is turned with Stop/Start trading, not here)."""
        if enabled:
            self.switch_state.setText("On. “Stop trading” at the top of the window turns it off at once.")
        else:
            why = f": {reason}" if reason else ""
            self.switch_state.setText(f"<b>Off</b>{why}. New entries are refused; “Start trading” at the top of "
                                      "the window turns it on.")

    def settings(self) -> UserSettings:
        """The settings the form describes; UserError saying what to fix."""
        risk = round(self.risk_percent.value(), 2)
        if not 0 < risk <= 100:
            raise UserError("Risk per trade must be more than 0 % and at most 100 %.", code="invalid")
        max_lot = round(self.max_lot_size.value(), 2) or None
        default_lot = round(self.default_lot_size.value(), 2)
        if default_lot <= 0:
            raise UserError("The default lot size must be more than 0.", code="invalid")
        if max_lot is not None and default_lot > max_lot:
            raise UserError("The default lot size is above the maximum lot size.", code="invalid")
        daily = round(self.max_daily_loss_pct.value(), 2) or None
        return replace(
            self._loaded, risk_percent=risk, max_lot_size=max_lot,
            max_open_positions=self.max_open_positions.value() or None,
            max_positions_per_symbol=self.max_positions_per_symbol.value() or None,
            max_daily_loss_pct=daily,
            close_all_on_daily_loss=daily is not None and self.close_all_on_daily_loss.isChecked(),
            equity_floor=round(self.equity_floor.value(), 2) or None,
            default_sl_pips=round(self.default_sl_pips.value(), 1) or None,
            default_sl_pips_lots=round(self.default_sl_pips_lots.value(), 1) or None,
            default_lot_size=default_lot, max_slippage_points=self.max_slippage_points.value())
