"""The trader's risk settings as a form: every ``UserSettings`` field, validated before saving."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QSpinBox, QWidget

from tnm_desktop.domain import UserSettings
from tnm_desktop.errors import UserError

NO_LIMIT = "No limit"


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


class RiskForm(QWidget):
    """Risk per trade and the limits every order is checked against."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.risk_percent = _spin(0.01, 100, 2, " %")
        self.risk_percent.setSingleStep(0.25)
        self.max_lot_size = _spin(0, 1000, 2, " lots", NO_LIMIT)
        self.max_open_positions = _count(1000, "", NO_LIMIT)
        self.max_daily_loss_pct = _spin(0, 100, 2, " %", NO_LIMIT)
        self.default_sl_pips = _spin(0, 100_000, 1, " pips", "None")
        self.default_lot_size = _spin(0.01, 1000, 2, " lots")
        self.max_slippage_points = _count(100_000, " points")
        self.trading_enabled = QCheckBox("Trading enabled — uncheck to stop every new order at once")
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("Risk per trade", self.risk_percent)
        form.addRow("Default stop loss", self.default_sl_pips)
        form.addRow("Default lot size", self.default_lot_size)
        form.addRow("Maximum lot size", self.max_lot_size)
        form.addRow("Maximum open positions", self.max_open_positions)
        form.addRow("Maximum daily loss", self.max_daily_loss_pct)
        form.addRow("Maximum slippage", self.max_slippage_points)
        form.addRow("", self.trading_enabled)
        self.risk_percent.setToolTip("Share of the balance risked per trade when a strategy has no override.")
        self.default_sl_pips.setToolTip("Used to size a trade when the alert carries no stop loss.")
        self.default_lot_size.setToolTip("Used when an alert has neither a lot size nor a stop to size from.")

    def set_settings(self, settings: UserSettings) -> None:
        """Show ``settings``."""
        self.risk_percent.setValue(settings.risk_percent)
        self.max_lot_size.setValue(settings.max_lot_size or 0)
        self.max_open_positions.setValue(settings.max_open_positions or 0)
        self.max_daily_loss_pct.setValue(settings.max_daily_loss_pct or 0)
        self.default_sl_pips.setValue(settings.default_sl_pips or 0)
        self.default_lot_size.setValue(settings.default_lot_size)
        self.max_slippage_points.setValue(settings.max_slippage_points)
        self.trading_enabled.setChecked(settings.trading_enabled)

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
        return UserSettings(
            risk_percent=risk, max_lot_size=max_lot,
            max_open_positions=self.max_open_positions.value() or None,
            max_daily_loss_pct=round(self.max_daily_loss_pct.value(), 2) or None,
            default_sl_pips=round(self.default_sl_pips.value(), 1) or None,
            default_lot_size=default_lot, max_slippage_points=self.max_slippage_points.value(),
            trading_enabled=self.trading_enabled.isChecked())
