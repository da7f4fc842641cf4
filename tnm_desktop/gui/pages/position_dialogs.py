"""The Positions page's two dialogs: close a part of a position, and change its stop loss / take profit.

Both open with ``open()`` (never a nested ``exec()``, which would run asyncio callbacks inside it)
and say ``chosen`` with what the trader asked for; the page turns that into a job for the agent.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from tnm_desktop.domain.positions import OpenPosition
from tnm_desktop.gui.pages.positions_models import side_text
from tnm_desktop.gui.widgets import InlineMessage, fmt


def price_decimals(*prices: float | None) -> int:
    """How many decimals the symbol is quoted with, read from its prices (5 at most)."""
    return max((len(fmt.price(p).partition(".")[2]) for p in prices if p), default=2)


def _title(position: OpenPosition) -> str:
    return f"{side_text(position.side)} {position.volume:g} {position.symbol} (#{position.ticket})"


class ClosePartDialog(QDialog):
    """How many lots of a position to close.

    Signals:
        chosen(float): the lots to close.
    """

    chosen = Signal(float)

    def __init__(self, position: OpenPosition, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Close part of a position")
        self.setObjectName("close_part_dialog")
        self.position = position
        self.lots = QDoubleSpinBox()
        self.lots.setDecimals(2)
        self.lots.setSingleStep(0.01)
        self.lots.setRange(0.01, max(round(position.volume - 0.01, 2), 0.01))
        self.lots.setValue(max(round(position.volume / 2, 2), 0.01))
        self.lots.setSuffix(" lots")
        note = QLabel(f"{_title(position)}. The rest stays open; the agent rounds down to the broker's lot step.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.addButton("Close these lots", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Close", self.lots)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.accepted.connect(self._on_accepted)

    def _on_accepted(self) -> None:
        self.chosen.emit(round(self.lots.value(), 2))


class StopsDialog(QDialog):
    """A position's new stop loss and take profit (unticked: none).

    Signals:
        chosen(object, object): the stop loss and take profit prices (None: remove it).
    """

    chosen = Signal(object, object)

    def __init__(self, position: OpenPosition, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Change stop loss and take profit")
        self.setObjectName("stops_dialog")
        self.position = position
        decimals = price_decimals(position.price_open, position.price_current, position.sl, position.tp)
        step = 10 ** -decimals * 10
        reference = position.price_current or position.price_open
        self.sl_on, self.sl = QCheckBox("Stop loss"), self._price_box(decimals, step)
        self.tp_on, self.tp = QCheckBox("Take profit"), self._price_box(decimals, step)
        below, above = round(reference * 0.99, decimals), round(reference * 1.01, decimals)
        buy = position.side == "buy"
        for check, box, current, default in ((self.sl_on, self.sl, position.sl, below if buy else above),
                                             (self.tp_on, self.tp, position.tp, above if buy else below)):
            check.setChecked(current is not None)
            box.setValue(current if current is not None else default)
            box.setEnabled(current is not None)
            check.toggled.connect(box.setEnabled)
            check.toggled.connect(self._check)
            box.valueChanged.connect(self._check)
        self.message = InlineMessage()
        note = QLabel(f"{_title(position)}, opened at {fmt.price(position.price_open)}, now "
                      f"{fmt.price(position.price_current)}. Untick a level to remove it.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = buttons.addButton("Send to the terminal", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow(self.sl_on, self.sl)
        form.addRow(self.tp_on, self.tp)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self.accepted.connect(self._on_accepted)
        self._check()

    @staticmethod
    def _price_box(decimals: int, step: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setDecimals(decimals)
        box.setRange(0, 10_000_000)
        box.setSingleStep(step)
        return box

    def levels(self) -> tuple[float | None, float | None]:
        """The stop loss and take profit as set (None: none)."""
        return (round(self.sl.value(), 8) if self.sl_on.isChecked() else None,
                round(self.tp.value(), 8) if self.tp_on.isChecked() else None)

    def problem(self) -> str:
        """Why the levels cannot work, or "" (the broker also checks its minimum distance)."""
        sl, tp = self.levels()
        price = self.position.price_current or self.position.price_open
        buy = self.position.side == "buy"
        if sl is not None and (sl >= price if buy else sl <= price):
            return f"A {'buy' if buy else 'sell'}'s stop loss must be {'below' if buy else 'above'} the price " \
                   f"({fmt.price(price)})."
        if tp is not None and (tp <= price if buy else tp >= price):
            return f"A {'buy' if buy else 'sell'}'s take profit must be {'above' if buy else 'below'} the price " \
                   f"({fmt.price(price)})."
        return ""

    def _check(self) -> None:
        problem = self.problem()
        if problem:
            self.message.show_error(problem)
        else:
            self.message.clear()
        self.ok.setEnabled(not problem)

    def _on_accepted(self) -> None:
        sl, tp = self.levels()
        self.chosen.emit(sl, tp)
