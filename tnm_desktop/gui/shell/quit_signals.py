"""SIGTERM and SIGINT (Ctrl+C; Ctrl+Break on Windows) quit the app as closing its window does.

Qt's event loop runs in C++, where Python signal handlers cannot run until Python code does. The
signal's number is written to a socket (``signal.set_wakeup_fd``) whose notifier wakes the loop;
the quit then happens in a slot, at a clean point of the loop, never inside whatever Python code
the signal interrupted. Sockets, not pipes: Windows accepts only a socket there.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier

log = logging.getLogger(__name__)

_NAMES = ("SIGTERM", "SIGINT", "SIGBREAK", "SIGHUP")


class QuitOnSignals(QObject):
    """While installed, the stop signals call ``on_quit`` on the GUI thread (once each time).

    Args:
        on_quit: What closing the window would do: quit in order, stopping what the app started.
    """

    def __init__(self, on_quit: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._on_quit = on_quit
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._notifier: QSocketNotifier | None = None
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1

    def install(self) -> bool:
        """Take over the stop signals; return False off the main thread (nothing is changed)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        reader, writer = socket.socketpair()
        for end in (reader, writer):
            end.setblocking(False)
        self._sockets = (reader, writer)
        self._previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        for sig in [getattr(signal, n) for n in _NAMES if hasattr(signal, n)]:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, _noted)
        self._notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_notifier_activated)
        return True

    def uninstall(self) -> None:
        """Give the signals back as they were."""
        if self._sockets is None:
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()
        signal.set_wakeup_fd(self._previous_fd)
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        for end in self._sockets:
            end.close()
        self._sockets = None

    def _on_notifier_activated(self) -> None:
        if self._sockets is None:
            return
        try:
            received = self._sockets[0].recv(64)
        except (BlockingIOError, InterruptedError):
            return
        if received:
            log.info("signal %s received: quitting", ", ".join(str(b) for b in received))
            self._on_quit()


def _noted(_signum: int, _frame: object) -> None:
    # Installed only so that the default action (ending the process at once) does not happen;
    # the wake-up socket carries the signal to the slot above.
    return
