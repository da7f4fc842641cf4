"""Getting started: the short path from the demo to the trader's own terminal, step by step.

Shown once, the first time the demo opens, and from Help → Getting started at any time. Each
step says what to look at and has the button that goes there.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

STEPS: tuple[tuple[str, str, str, str], ...] = (
    ("1. Watch the demo trade",
     "Seven TradingView alerts went through the demo's webhook receiver: two filled, the rest refused, "
     "each with its reason. Click one to see every stage it went through.", "Open Signals", "signals"),
    ("2. Send your own test signal",
     "Each strategy has its webhook URL and the alert message to paste into TradingView. “Send test signal” "
     "posts one right now; watch it on the Signals page and in the agent's log.", "Open Strategies", "strategies"),
    ("3. Connect my MetaTrader 5",
     "Point the agent at your terminal: it finds MetaTrader 5, tests the connection, shows your account, "
     "algo trading and your broker's symbol suffix, and pairs this computer. Start on a demo account.",
     "Connect my MetaTrader 5…", "connect"),
    ("4. Your own workspace",
     "The demo is for trying. For your own strategies: Account → Sign out, then Manage… to add a local "
     "workspace (a folder on this computer) or your Supabase project. The demo stays in the list.",
     "", ""),
)


class GettingStarted(QDialog):
    """The four steps, each with its button.

    Signals:
        go(str): a step's button was pressed: a page key, or ``connect`` for the MT5 dialog.
    """

    go = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Getting started")
        self.setObjectName("getting_started")
        intro = QLabel("<b>From the demo to your own MetaTrader 5, in four steps.</b> The demo trades paper money "
                       "on a simulator: nothing here reaches a broker until you connect your terminal.")
        intro.setWordWrap(True)
        grid = QGridLayout()
        grid.setVerticalSpacing(14)
        grid.setColumnStretch(0, 1)
        self.buttons: dict[str, QPushButton] = {}
        for row, (title, text, button_text, target) in enumerate(STEPS):
            label = QLabel(f"<b>{title}</b><br>{text}")
            label.setWordWrap(True)
            grid.addWidget(label, row, 0)
            if button_text:
                button = QPushButton(button_text)
                button.clicked.connect(lambda _checked=False, t=target: self._on_step_clicked(t))
                grid.addWidget(button, row, 1)
                self.buttons[target] = button
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addStretch(1)
        layout.addWidget(close)
        self.resize(640, 460)

    def _on_step_clicked(self, target: str) -> None:
        self.go.emit(target)
