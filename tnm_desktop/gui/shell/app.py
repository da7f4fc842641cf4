"""The desktop app's entry point: logging, Qt + qasync once, crash dialog, start-up, shutdown.

``run()`` is the only place that creates the QApplication and the event loop. The lifecycle is
one coroutine: start the controller, wait until the user quits, then shut down in order (the
window's tasks and live subscription, then the services — stopping a workspace database this
process started — then the remaining tasks).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path

import qasync
from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from tnm_desktop.gui.shell.controller import AppController, StartUp
from tnm_desktop.gui.shell.mainwindow import current_window
from tnm_desktop.gui.widgets import theme
from tnm_desktop.gui.widgets.bridge import MessageBridge, install_crash_hooks
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, ProfileStore, config_dir, log_dir
from tnm_desktop.services import open_services

log = logging.getLogger(__name__)

LOG_FILE = "tnm-desktop.log"

async def choose_startup(store: ProfileStore, *, demo: bool = False, workspace: Path | None = None) -> StartUp:
    """Pick the start-up profile: the demo, ``--workspace DIR``, the default one, or (nothing
    configured) the demo."""
    if demo:
        return await _demo_startup(workspace)
    if workspace is not None:
        return StartUp(await asyncio.to_thread(_workspace_profile, store, workspace))
    profiles, default_id = await asyncio.to_thread(store.load)
    chosen = next((p for p in profiles if p.id == default_id), profiles[0] if profiles else None)
    if chosen is None:
        # Nothing configured: the demo, so the whole pipeline can be watched working at once.
        # Signing out of it leads to the sign-in window, where a workspace or project is added.
        return await _demo_startup(None)
    return StartUp(chosen)


def _workspace_profile(store: ProfileStore, workspace: Path) -> ConnectionProfile:
    # The profile of a folder given on the command line; saved, so "remember me" works next time.
    folder = str(Path(workspace).expanduser().absolute())
    profiles, _ = store.load()
    found = next((p for p in profiles if p.kind is ProfileKind.LOCAL and p.workspace_dir == folder), None)
    if found is not None:
        return found
    return store.upsert(ConnectionProfile.new(Path(folder).name or "Workspace", ProfileKind.LOCAL,
                                              workspace_dir=folder))


async def _demo_startup(workspace: Path | None) -> StartUp:
    from tnm_desktop.demo import open_demo

    services = await open_demo(workspace)
    return StartUp(services.profile, services)


# Logging -------------------------------------------------------------------------------------

_SECRETS = [
    (re.compile(r"/tv/[A-Za-z0-9_-]{8,}"), "/tv/[secret]"),  # webhook URLs carry their secret
    (re.compile(r"\b(pk_[0-9a-f]{8})[0-9a-f]{8,}"), r"\1…"),  # pairing keys: the prefix only
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]+"), "[jwt]"),
    (re.compile(r'("?(?:refresh_token|access_token|password)"?\s*[:=]\s*"?)[^"\s,}]+'), r"\1[secret]"),
]


def redact(text: str) -> str:
    """Remove webhook secrets, keys and tokens from a log line."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then redacts (tracebacks and exception messages included)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def setup_logging() -> tuple[Path, logging.Handler]:
    """Log to a rotating file in the user's log directory; return its path and the handler."""
    directory = log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOG_FILE
    handler = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(RedactingFormatter(_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    for other in root.handlers:  # the console too: never print a secret
        if type(other) is logging.StreamHandler and not isinstance(other.formatter, RedactingFormatter):
            other.setFormatter(RedactingFormatter(_FORMAT))
    return path, handler


class CrashReporter(QObject):
    """Shows unexpected errors in a dialog on the GUI thread, pointing at the log file."""

    def __init__(self, bridge: MessageBridge, log_path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._log_path = log_path
        self._box: QMessageBox | None = None
        self.reports = 0
        bridge.crashed.connect(self._on_bridge_crashed)

    def _on_bridge_crashed(self, details: str) -> None:
        self.reports += 1
        if self._box is not None and self._box.isVisible():
            return  # one dialog at a time; every report is in the log
        box = QMessageBox(QMessageBox.Icon.Critical, "TNM Desktop — unexpected error",
                          "Something went wrong that TNM Desktop did not expect. What you were doing "
                          "may not have finished; your data in the database is safe.",
                          QMessageBox.StandardButton.Ok, current_window())
        box.setInformativeText(f"The details are in the log file:\n{self._log_path}")
        box.setDetailedText(redact(details))
        box.open()
        self._box = box


def run(demo: bool = False, workspace: Path | None = None) -> int:
    """Run the desktop app until the user quits; return the exit status."""
    log_path, log_handler = setup_logging()
    hooks = (sys.excepthook, threading.excepthook)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("TNM Desktop")
    app.setOrganizationName("TNM")
    app.setWindowIcon(theme.app_icon())
    app.setQuitOnLastWindowClosed(False)  # the controller decides when the app is done
    # Beside the profiles file, so that one directory (TNM_CONFIG_DIR) holds all of the app's state.
    settings = QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)
    theme.apply(str(settings.value("ui/theme", theme.Theme.LIGHT.value)))
    bridge = MessageBridge()
    _crash_dialogs = CrashReporter(bridge, log_path)
    log.info("TNM Desktop starting (log: %s)", log_path)

    async def main() -> int:
        install_crash_hooks(bridge, asyncio.get_running_loop())
        store = ProfileStore()
        controller = AppController(
            bridge, settings, store,
            choose=lambda s: choose_startup(s, demo=demo, workspace=workspace),
            open_services=open_services)
        controller.start()
        try:
            return await controller.wait_finished()
        finally:
            await controller.shutdown()
            settings.sync()
            log.info("TNM Desktop stopped")

    try:
        with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
            return runner.run(main())
    finally:
        sys.excepthook, threading.excepthook = hooks
        logging.getLogger().removeHandler(log_handler)
        log_handler.close()
