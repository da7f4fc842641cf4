"""The shared widget toolkit of the shell and the pages.

This module holds the small widgets every page uses: an inline message, a busy indicator, a
banner, a confirmation. Its submodules hold the rest: tables, the task runner, formatting, the
theme, the code editor and diff view, the job table, the sync chart, and the Qt faces of the live
changes and the agent (hubs) and of messages and crashes (bridge).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from tnm_desktop.gui.widgets import theme


def monospace_font() -> QFont:
    """The system's fixed-width font (payloads, URLs, keys)."""
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def copy_to_clipboard(text: str) -> None:
    """Put ``text`` on the clipboard."""
    QGuiApplication.clipboard().setText(text)


class InlineMessage(QLabel):
    """A message shown where the user is looking (under a form, above a table); hidden when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_error(self, text: str) -> None:
        """Show a problem the user should fix or know about."""
        self._show(text, "bad")

    def show_info(self, text: str) -> None:
        """Show a neutral confirmation."""
        self._show(text, "good")

    def clear(self) -> None:
        """Hide the message."""
        super().clear()
        self.hide()

    def _show(self, text: str, kind: str) -> None:
        theme.tint(self, f"color: {{{kind}}};")
        self.setText(text)
        self.setVisible(bool(text))


class BusyIndicator(QWidget):
    """An indeterminate progress bar with a short text, shown while work is in flight."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # indeterminate
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(90, 8)
        self.label = QLabel()
        layout.addWidget(self.bar)
        layout.addWidget(self.label)
        self.hide()

    @property
    def busy(self) -> bool:
        """Whether it is showing."""
        return not self.isHidden()

    def set_busy(self, busy: bool, text: str = "") -> None:
        """Show (with ``text``) or hide the indicator."""
        self.label.setText(text)
        self.setVisible(busy)


class Banner(QFrame):
    """A coloured strip across a window with a message and an optional action.

    Signals:
        action_clicked(): the action button was pressed.
    """

    action_clicked = Signal()

    def __init__(self, parent: QWidget | None = None, *, closable: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 8, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.button = QPushButton()
        self.button.hide()
        self.button.clicked.connect(self.action_clicked)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        if closable:
            close = QPushButton("Dismiss")
            close.setFlat(True)
            close.clicked.connect(self.hide)
            layout.addWidget(close)
        self.hide()

    def show_message(self, text: str, kind: str = "bad", action: str = "") -> None:
        """Show ``text`` coloured by ``kind`` (good/warn/bad/idle), with an optional action button."""
        theme.tint(self, f"#banner {{{{ background: {{{kind}}}; }}}} #banner QLabel {{{{ color: white; "
                         "font-weight: 600; }}")
        self.label.setText(text)
        self.button.setText(action)
        self.button.setVisible(bool(action))
        self.show()


def ask(parent: QWidget, title: str, text: str, confirm: str, on_confirm: Callable[[], object], *,
        destructive: bool = False, details: str = "") -> QMessageBox:
    """Ask for confirmation without blocking the event loop; call ``on_confirm`` on yes.

    The box is window-modal and opened with ``open()`` (a nested ``exec()`` would run asyncio
    callbacks inside it). It is returned so callers and tests can find its buttons.
    """
    box = QMessageBox(QMessageBox.Icon.Warning if destructive else QMessageBox.Icon.Question,
                      title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("confirmation")
    if details:
        box.setInformativeText(details)
    yes = box.addButton(confirm, QMessageBox.ButtonRole.DestructiveRole if destructive
                        else QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def finished() -> None:
        if box.clickedButton() is yes:
            on_confirm()

    box.finished.connect(finished)
    box.open()
    return box
