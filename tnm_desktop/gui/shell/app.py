"""The desktop app's lifecycle: logging, Qt + its event loop once, crash dialog, start-up, shutdown.

``run()`` is the only place that creates the QApplication and runs the event loop (which loop is
the composition root's choice, :mod:`tnm_desktop.composition.gui`). The lifecycle is one
coroutine: start the controller, wait until the user quits, then shut down in order (the window's
tasks and live subscription, then the services — stopping a workspace database this process
started — then the remaining tasks).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from tnm_desktop import files
from tnm_desktop.gui.shell.controller import AppController, ChooseStartUp, OpenServices
from tnm_desktop.gui.shell.mainwindow import current_window
from tnm_desktop.gui.shell.quit_signals import QuitOnSignals
from tnm_desktop.gui.widgets import theme
from tnm_desktop.gui.widgets.bridge import MessageBridge, install_crash_hooks
from tnm_desktop.profiles import ProfileStore, config_dir, log_dir

log = logging.getLogger(__name__)

LOG_FILE = "tnm-desktop.log"

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
    """Log to a rotating file in the user's log directory; return its path and the handler.

    A log folder that cannot be written to costs the log file, not the app: the log goes only to
    the console then, after one line saying why.
    """
    directory = log_dir()
    path = directory / LOG_FILE
    handler: logging.Handler
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    except OSError as exc:
        print(f"tnm-desktop: no log file: {files.problem(exc, 'the log folder', directory).message}",
              file=sys.stderr)
        handler = logging.NullHandler()  # the console's handler (the command line's) still logs
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


def run(choose: ChooseStartUp, open_services: OpenServices,
        new_loop: Callable[[QApplication], asyncio.AbstractEventLoop]) -> int:
    """Run the desktop app until the user quits; return the exit status.

    Args:
        choose: Picks the start-up profile (and opens the demo's services).
        open_services: Opens a profile's services (what sign-in and switching profiles call).
        new_loop: Makes the event loop Qt and asyncio share on this thread.
    """
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
        controller = AppController(bridge, settings, store, choose=choose, open_services=open_services)
        # SIGTERM, Ctrl+C and the like stop what the app started, as closing the window does.
        quitter = QuitOnSignals(controller.quit)
        quitter.install()
        controller.start()
        try:
            return await controller.wait_finished()
        finally:
            try:
                await controller.shutdown()
                settings.sync()
                log.info("TNM Desktop stopped")
            finally:
                quitter.uninstall()

    try:
        with asyncio.Runner(loop_factory=lambda: new_loop(app)) as runner:
            return runner.run(main())
    finally:
        sys.excepthook, threading.excepthook = hooks
        logging.getLogger().removeHandler(log_handler)
        log_handler.close()
