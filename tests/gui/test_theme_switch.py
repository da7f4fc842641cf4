"""Switching the theme repaints every window: style sheets that name palette colours, and the
colours that carry meaning (a warning, a state), follow the new theme at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from tnm_desktop.gui.shell.signin import SignInWindow
from tnm_desktop.gui.widgets import InlineMessage, theme
from tnm_desktop.gui.widgets.tasks import TaskRunner
from tnm_desktop.profiles import ProfileStore


def close_to(a: QColor, b: QColor, tolerance: int = 8) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip((a.red(), a.green(), a.blue()), (b.red(), b.green(), b.blue()),
                                                            strict=True))


@pytest.fixture(autouse=True)
def back_to_light() -> object:
    yield None
    theme.apply(theme.Theme.LIGHT)


def test_dark_and_back_to_light_leaves_the_sign_in_window_light_and_its_fields_visible(
        qtbot: QtBot, tmp_path: Path) -> None:
    theme.apply(theme.Theme.LIGHT)
    window = SignInWindow(TaskRunner(lambda _e: None, lambda _e: None), ProfileStore(tmp_path / "p.json"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    before = window.grab().toImage()
    for chosen in (theme.Theme.DARK, theme.Theme.LIGHT):
        theme.apply(chosen)
        QApplication.processEvents()
        image = window.grab().toImage()
        card_bg = image.pixelColor(40, 40)  # inside the card, left of the logo
        assert close_to(card_bg, QApplication.palette().base().color()), (chosen, card_bg.name())
        # The email field's border stands out from the card, whatever the theme.
        parent = window.email.parentWidget()
        assert parent is not None
        field = window.email.geometry().translated(parent.mapTo(window, window.email.pos()) - window.email.pos())
        border = image.pixelColor(field.left(), field.center().y())
        assert not close_to(border, card_bg, 12), (chosen, border.name(), card_bg.name())
    after = window.grab().toImage()
    assert close_to(after.pixelColor(40, 40), before.pixelColor(40, 40))


def test_a_message_shown_in_one_theme_takes_the_other_themes_colour(qtbot: QtBot) -> None:
    theme.apply(theme.Theme.LIGHT)
    message = InlineMessage()
    qtbot.addWidget(message)
    message.show_error("Wrong email or password.")
    assert theme.state_color("bad").name() in message.styleSheet()
    theme.apply(theme.Theme.DARK)
    assert theme.state_color("bad").name() in message.styleSheet()  # the dark theme's red now
    assert message.text() == "Wrong email or password."
