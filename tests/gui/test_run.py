"""The real entry point: ``run()`` on a fresh machine, with a real workspace database it starts itself."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget
from tnm_desktop import runlog
from tnm_desktop.gui.shell.mainwindow import MainWindow
from tnm_desktop.gui.shell.signin import SignInWindow
from tnm_desktop.pgcluster import LocalCluster
from tnm_desktop.workspace import Workspace

from tests.gui.app_run import drive

PASSWORD = "a long enough password"


@pytest.mark.usefixtures("qapp")
def test_a_new_workspace_sign_up_then_a_silent_restore_and_the_database_stops(machine: Path) -> None:
    folder = machine / "data" / "workspace"
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
                seen["base"] = window.session.ctx.services.webhook_base_url
                # The workspace's receiver answers while the app runs (a blocking call is fine here);
                # it says 503 until its first database connection is made, so ask again until then.
                try:
                    with urllib.request.urlopen(seen["base"] + "/healthz", timeout=5) as answer:  # noqa: S310
                        seen["health"] = answer.read().decode()
                except urllib.error.HTTPError as exc:
                    if exc.code != 503:
                        raise
                    return False
                window.close()
                return True
        return False

    assert drive(sign_up, workspace=folder) == 0
    # The URLs shown are on the workspace's pinned port.
    assert seen["base"] == f"http://127.0.0.1:{Workspace(folder).settings().receiver_port}"
    assert '"database": "ok"' in seen["health"]
    with pytest.raises(urllib.error.URLError, match="refused"):  # and stops with it
        urllib.request.urlopen(seen["base"] + "/healthz", timeout=5)  # noqa: S310
    assert seen["where"] == f"Local workspace · {folder}"  # the kind, then the folder
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

    assert drive(restored, workspace=folder) == 0
    assert "message" not in seen
    assert not LocalCluster(db_dir).is_running()
    runs = runlog.run_files(machine / "log")  # one log file per run of the app
    assert len(runs) == 2, runs
    for (log_file, *_rotated) in runs.values():
        log_text = log_file.read_text(encoding="utf-8")
        assert "TNM Desktop stopped" in log_text and PASSWORD not in log_text
