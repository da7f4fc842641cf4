"""The real entry point: ``run()`` on a fresh machine, with a real workspace database it starts itself."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget
from tnm_desktop.gui import app as gui_app
from tnm_desktop.gui.mainwindow import MainWindow
from tnm_desktop.gui.signin import SignInWindow
from tnm_desktop.localdb import LocalCluster

from tests.conftest import reachable_tmpdir

PASSWORD = "a long enough password"


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A user's config, data and log directories with nothing in them yet."""
    root = reachable_tmpdir("tnm-gui-run-")
    for name, sub in (("TNM_CONFIG_DIR", "config"), ("TNM_DATA_DIR", "data"), ("TNM_LOG_DIR", "log")):
        monkeypatch.setenv(name, str(root / sub))
    yield root
    cluster = LocalCluster(root / "data" / "workspace" / "db")
    if cluster.is_running():
        cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


def drive(step: Callable[[list[QWidget]], bool], limit_s: float = 90) -> int:
    """Run the app, calling ``step`` with the top-level windows every 50 ms until it returns True."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    deadline = time.monotonic() + limit_s
    done = [False]

    def tick() -> None:
        if time.monotonic() > deadline:  # give up: closing every window makes run() return
            for widget in app.topLevelWidgets():
                widget.close()
            return
        if not done[0]:
            done[0] = step([w for w in app.topLevelWidgets() if w.isVisible()])
        QTimer.singleShot(50, tick)

    QTimer.singleShot(50, tick)
    status = gui_app.run()
    assert done[0], "the scripted steps did not finish"
    return status


@pytest.mark.usefixtures("qapp")
def test_first_start_sign_up_then_a_silent_restore_and_the_database_stops(machine: Path) -> None:
    seen: dict[str, str] = {}

    def sign_up(windows: list[QWidget]) -> bool:
        for window in windows:
            if isinstance(window, SignInWindow) and window.sign_in_button.isEnabled() and "where" not in seen:
                seen["where"] = window.where.text()
                window.email.setText("first@example.com")
                window.password.setText(PASSWORD)
                window.remember.setChecked(True)
                window.create_button.click()
            if isinstance(window, MainWindow) and not window.building:
                seen["title"] = window.windowTitle()
                window.close()
                return True
        return False

    assert drive(sign_up) == 0
    assert seen["where"] == f"Local workspace · {machine / 'data' / 'workspace'}"
    assert seen["title"].startswith("TNM Desktop — first@example.com")
    db_dir = machine / "data" / "workspace" / "db"
    assert not LocalCluster(db_dir).is_running()  # we started it, we stopped it

    def restored(windows: list[QWidget]) -> bool:
        for window in windows:
            if isinstance(window, SignInWindow) and window.message.text():
                seen["message"] = window.message.text()
            if isinstance(window, MainWindow):
                window.close()
                return True
        return False

    assert drive(restored) == 0
    assert "message" not in seen
    assert not LocalCluster(db_dir).is_running()
    log_text = (machine / "log" / "tnm-desktop.log").read_text()
    assert "TNM Desktop stopped" in log_text and PASSWORD not in log_text
