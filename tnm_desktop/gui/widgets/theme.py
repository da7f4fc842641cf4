"""Light and dark themes, and the few colours that carry meaning (a signal's status, online/offline).

The Fusion style with an explicit palette looks the same on every platform and in offscreen
screenshots. Colours that mean something come in a light and a dark variant, chosen to keep
at least 4.5:1 contrast against the table's base colour in either theme.
"""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QWidget

from tnm_desktop.domain import SignalStatus


class Theme(StrEnum):
    """The themes the user can pick."""

    LIGHT = "light"
    DARK = "dark"


_current = Theme.LIGHT

# status → (light text, dark text, light row tint, dark row tint)
_STATUS = {
    SignalStatus.PENDING: ("#8a5a00", "#f0c25a", "#fff6dc", "#3a3117"),
    SignalStatus.EXECUTED: ("#1a7f37", "#5fd37a", "#e8f6ec", "#1b3324"),
    SignalStatus.FAILED: ("#b42318", "#ff8a80", "#fdecea", "#44201e"),
    SignalStatus.DISCARDED: ("#5f6368", "#a8adb3", "#f1f2f4", "#2c2e31"),
}
_STATE = {  # a connection/agent state → (light, dark)
    "good": ("#1a7f37", "#5fd37a"),
    "warn": ("#8a5a00", "#f0c25a"),
    "bad": ("#b42318", "#ff8a80"),
    "idle": ("#5f6368", "#a8adb3"),
}


def current() -> Theme:
    """The theme in use."""
    return _current


def is_dark() -> bool:
    """Whether the dark theme is in use (models ask this while painting, so it is a lookup)."""
    return _current is Theme.DARK


def status_text_color(status: SignalStatus) -> QColor:
    """The colour of a status word."""
    light, dark, _, _ = _STATUS[status]
    return QColor(dark if is_dark() else light)


def status_row_color(status: SignalStatus) -> QColor:
    """The tint of a row with this status."""
    _, _, light, dark = _STATUS[status]
    return QColor(dark if is_dark() else light)


def state_color(kind: str) -> QColor:
    """The colour of a state indicator: ``good``, ``warn``, ``bad`` or ``idle``."""
    light, dark = _STATE[kind]
    return QColor(dark if is_dark() else light)


def _palette(theme: Theme) -> QPalette:
    p = QPalette()
    if theme is Theme.DARK:
        colors = {
            QPalette.ColorRole.Window: "#202225", QPalette.ColorRole.WindowText: "#e6e6e6",
            QPalette.ColorRole.Base: "#18191b", QPalette.ColorRole.AlternateBase: "#1f2023",
            QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#2b2d31",
            QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.Highlight: "#3b6fd4",
            QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2b2d31",
            QPalette.ColorRole.ToolTipText: "#e6e6e6", QPalette.ColorRole.PlaceholderText: "#8b8f94",
            QPalette.ColorRole.Link: "#7aa7ff", QPalette.ColorRole.Mid: "#3a3c40",
            QPalette.ColorRole.Midlight: "#34363a", QPalette.ColorRole.Dark: "#111214",
            QPalette.ColorRole.Light: "#3e4045", QPalette.ColorRole.Shadow: "#000000",
            QPalette.ColorRole.BrightText: "#ff8a80",
        }
        disabled = "#6f7378"
    else:
        colors = {
            QPalette.ColorRole.Window: "#f3f4f6", QPalette.ColorRole.WindowText: "#1f2328",
            QPalette.ColorRole.Base: "#ffffff", QPalette.ColorRole.AlternateBase: "#f7f8fa",
            QPalette.ColorRole.Text: "#1f2328", QPalette.ColorRole.Button: "#ffffff",
            QPalette.ColorRole.ButtonText: "#1f2328", QPalette.ColorRole.Highlight: "#2f6fde",
            QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#ffffff",
            QPalette.ColorRole.ToolTipText: "#1f2328", QPalette.ColorRole.PlaceholderText: "#8c959f",
            QPalette.ColorRole.Link: "#2f6fde", QPalette.ColorRole.Mid: "#c9ced6",
            QPalette.ColorRole.Midlight: "#e3e6ea", QPalette.ColorRole.Dark: "#a0a6ae",
            QPalette.ColorRole.Light: "#ffffff", QPalette.ColorRole.Shadow: "#6e7781",
            QPalette.ColorRole.BrightText: "#b42318",
        }
        disabled = "#9aa0a6"
    for role, color in colors.items():
        p.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(disabled))
    return p


def apply(theme: Theme | str) -> Theme:
    """Switch the whole application to ``theme`` (unknown names fall back to light)."""
    global _current
    try:
        chosen = Theme(theme)
    except ValueError:
        chosen = Theme.LIGHT
    _current = chosen
    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.setStyle("Fusion")
        app.setPalette(_palette(chosen))
        _restyle(app)
    return chosen


_TINT = "tnm_tint"  # the widget property holding a tinted style sheet's template


def tint(widget: QWidget, template: str) -> None:
    """Give ``widget`` a style sheet with the meaning colours of the theme in use, kept in step
    with theme switches: ``{good}``, ``{warn}``, ``{bad}`` and ``{idle}`` become their colours."""
    widget.setProperty(_TINT, template)
    widget.setStyleSheet(_tinted(template))


def _tinted(template: str) -> str:
    return template.format(**{kind: state_color(kind).name() for kind in _STATE})


def _restyle(app: QApplication) -> None:
    # A style sheet's palette(...) colours are resolved when it is applied, not when the palette
    # changes: without this, a window styled in one theme keeps that theme's colours (a dark card
    # with unreadable fields after dark → light). Applying each sheet again resolves them anew;
    # tinted ones are rendered again with the new theme's colours.
    for widget in app.allWidgets():
        template = widget.property(_TINT)
        sheet = widget.styleSheet()
        if isinstance(template, str):
            widget.setStyleSheet(_tinted(template))
        elif sheet and "palette(" in sheet:
            widget.setStyleSheet("")
            widget.setStyleSheet(sheet)


def app_icon() -> QIcon:
    """The application's icon, drawn so that no resource file is needed."""
    icon = QIcon()
    for size in (16, 32, 64):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(QColor("#2f6fde"))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawRoundedRect(0, 0, size, size, size * 0.22, size * 0.22)
        painter.setPen(QColor("#ffffff"))
        font = QFont()
        font.setBold(True)
        font.setPixelSize(int(size * 0.62))
        painter.setFont(font)
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "T")
        painter.end()
        icon.addPixmap(pixmap)
    return icon
