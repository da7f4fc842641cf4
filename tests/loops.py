"""An event loop that refuses to wait on sockets, as Windows' proactor loop does, for Linux tests."""

from __future__ import annotations

import asyncio
from typing import Any


class RefusingLoop(asyncio.SelectorEventLoop):
    """Refuses ``add_reader``/``add_writer``/``remove_reader``/``remove_writer`` and signal handlers
    with ``NotImplementedError``, exactly as ``asyncio.ProactorEventLoop`` (and qasync's
    ``QIOCPEventLoop``) do on Windows; everything else (transports, timers) works as usual."""

    def add_reader(self, fd: Any, callback: Any, *args: Any) -> None:
        raise NotImplementedError

    def remove_reader(self, fd: Any) -> bool:
        raise NotImplementedError

    def add_writer(self, fd: Any, callback: Any, *args: Any) -> None:
        raise NotImplementedError

    def remove_writer(self, fd: Any) -> bool:
        raise NotImplementedError

    def add_signal_handler(self, sig: int, callback: Any, *args: Any) -> None:
        raise NotImplementedError

    def remove_signal_handler(self, sig: int) -> bool:
        raise NotImplementedError
