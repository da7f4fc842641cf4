"""An event loop that refuses to wait on sockets, as Windows' proactor loop does, for Linux tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVarTuple

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

Ts = TypeVarTuple("Ts")


class RefusingLoop(asyncio.SelectorEventLoop):
    """Refuses ``add_reader``/``add_writer``/``remove_reader``/``remove_writer`` and signal handlers
    with ``NotImplementedError``, exactly as ``asyncio.ProactorEventLoop`` (and qasync's
    ``QIOCPEventLoop``) do on Windows; everything else (transports, timers) works as usual."""

    def add_reader(self, fd: FileDescriptorLike, callback: Callable[[*Ts], Any], *args: *Ts) -> None:
        raise NotImplementedError

    def remove_reader(self, fd: FileDescriptorLike) -> bool:
        raise NotImplementedError

    def add_writer(self, fd: FileDescriptorLike, callback: Callable[[*Ts], Any], *args: *Ts) -> None:
        raise NotImplementedError

    def remove_writer(self, fd: FileDescriptorLike) -> bool:
        raise NotImplementedError

    def add_signal_handler(self, sig: int, callback: Callable[[*Ts], object], *args: *Ts) -> None:
        raise NotImplementedError

    def remove_signal_handler(self, sig: int) -> bool:
        raise NotImplementedError
