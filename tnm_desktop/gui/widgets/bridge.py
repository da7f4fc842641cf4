"""One way to tell the user something, and one way for bugs to surface.

Services report through :class:`MessageBridge`; the window shows what it emits. Unexpected
exceptions — from the main thread, any other thread, or an asyncio callback — are logged and
arrive as :attr:`MessageBridge.crashed`, which the app turns into an error dialog on the GUI thread
instead of dying silently.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import traceback
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Signal

from tnm_desktop.errors import TnmError

log = logging.getLogger(__name__)


class MessageBridge(QObject):
    """Messages for the user and crash reports, safe to emit from any thread.

    Signals:
        message(str, str): a level ("info", "warning", "error") and a text for the user.
        crashed(str): the formatted traceback of an unexpected exception.
        busy(bool): long work started (True) or ended (False).
    """

    message = Signal(str, str)
    crashed = Signal(str)
    busy = Signal(bool)

    def info(self, text: str) -> None:
        """Tell the user something happened."""
        self.message.emit("info", text)

    def warning(self, text: str) -> None:
        """Tell the user something needs attention."""
        self.message.emit("warning", text)

    def error(self, text: str) -> None:
        """Tell the user something failed."""
        self.message.emit("error", text)

    def user_error(self, exc: TnmError) -> None:
        """Show a taxonomy error's message as it is."""
        self.message.emit("error", exc.message)

    def bug(self, exc: BaseException) -> None:
        """Report an unexpected exception."""
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.crashed.emit(text)


def install_crash_hooks(bridge: MessageBridge, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Route every unhandled exception to the log and to ``bridge.crashed`` (once, at start-up)."""

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        log.critical("unhandled exception", exc_info=(kind, value, tb))
        bridge.crashed.emit("".join(traceback.format_exception(kind, value, tb)))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        log.critical("unhandled exception in thread %s", getattr(args.thread, "name", "?"),
                     exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        bridge.crashed.emit("".join(traceback.format_exception(args.exc_type, args.exc_value,
                                                               args.exc_traceback)))

    def loop_handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, TnmError):
            bridge.user_error(exc)
            return
        log.critical("asyncio: %s", context.get("message"), exc_info=exc)
        if exc is not None:
            bridge.bug(exc)
        else:
            bridge.crashed.emit(str(context.get("message")))

    sys.excepthook = excepthook
    threading.excepthook = thread_hook
    if loop is not None:
        loop.set_exception_handler(loop_handler)
