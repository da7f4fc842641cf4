"""Event loops: the selector loop psycopg needs, a thread that runs one, and stop signals anywhere.

psycopg's async connections wait on their socket with ``loop.add_reader``/``add_writer``. A
selector loop has those; the proactor loop (Windows' default, and qasync's ``QEventLoop`` there)
raises ``NotImplementedError``. So:

* the threads and processes that own their loop (the agent's thread, the webhook receiver, the
  headless commands) run :func:`selector_loop`, chosen by the composition root;
* psycopg code that runs on a loop it does not own (the GUI's) goes through
  :func:`on_selector_loop`, which runs it right there when that loop can wait on sockets and on
  one shared selector loop thread when it cannot.

Qt-free: the GUI's own loop is made in :mod:`tnm_desktop.composition.gui`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def selector_loop() -> asyncio.AbstractEventLoop:
    """A new selector event loop, on every platform (what psycopg's async connections need)."""
    return asyncio.SelectorEventLoop()


_can_wait: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, bool] = weakref.WeakKeyDictionary()


def can_wait_on_sockets(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` offers ``add_reader`` (a selector loop) or refuses it (a proactor loop)."""
    known = _can_wait.get(loop)
    if known is not None:
        return known
    proactor = getattr(asyncio, "ProactorEventLoop", ())  # Windows only; psycopg refuses it by its type
    if isinstance(loop, proactor):
        _can_wait[loop] = False
        return False
    # Asked of the loop itself rather than of its class: qasync's loops and test loops subclass
    # the asyncio ones, and only trying tells what a loop really does.
    mine, other = socket.socketpair()
    try:
        loop.add_reader(mine.fileno(), lambda: None)
    except NotImplementedError:
        able = False
    else:
        loop.remove_reader(mine.fileno())
        able = True
    finally:
        mine.close()
        other.close()
    _can_wait[loop] = able
    return able


class SelectorThread:
    """One selector event loop on a daemon thread of its own, started on first use."""

    def __init__(self, name: str = "psycopg-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (started now if it is not yet)."""
        with self._lock:
            if self._loop is None:
                loop = selector_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=run, name=self._name, daemon=True).start()
                ready.wait()
                self._loop = loop
            return self._loop

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on this thread's loop; cancelling the caller cancels it there."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))


_shared = SelectorThread()


def shared_selector_thread() -> SelectorThread:
    """The process's one selector loop thread for psycopg calls from loops that refuse sockets."""
    return _shared


async def on_selector_loop(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Await ``make()`` on a loop that can wait on sockets: the running one if it can, else the
    shared selector thread's. The same caller always lands on the same loop."""
    if can_wait_on_sockets(asyncio.get_running_loop()):
        return await make()
    return await _shared.run(make())


def stop_signals() -> list[signal.Signals]:
    """The signals that ask a process to stop: SIGTERM, SIGINT (Ctrl+C), on Windows SIGBREAK (Ctrl+Break)."""
    names = ["SIGTERM", "SIGINT"] + (["SIGBREAK"] if sys.platform == "win32" else [])
    return [getattr(signal, name) for name in names if hasattr(signal, name)]


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> Callable[[], None]:
    """Call ``stop`` on ``loop`` (the main thread's) at SIGTERM or SIGINT; on Windows, at Ctrl+C or
    Ctrl+Break. Return a function that puts the previous handlers back.

    POSIX loops take signal handlers. Windows' loops do not (``add_signal_handler`` raises
    ``NotImplementedError``): there a plain ``signal.signal`` handler hands the call to the loop,
    and a wake-up socket read by the loop (as asyncio's POSIX loops use) makes a loop asleep in
    ``select()`` run it at once — Windows' ``select()`` is not interrupted by a signal.
    """
    signals = stop_signals()
    try:
        loop.add_signal_handler(signals[0], stop)
    except NotImplementedError:
        return _plain_handlers(loop, stop, signals)
    for sig in signals[1:]:
        loop.add_signal_handler(sig, stop)

    def remove() -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)

    return remove


def _plain_handlers(loop: asyncio.AbstractEventLoop, stop: Callable[[], None],
                    signals: list[signal.Signals]) -> Callable[[], None]:
    def handler(signum: int, frame: object) -> None:
        loop.call_soon_threadsafe(stop)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    wake: tuple[socket.socket, socket.socket] | None = None
    old_fd = -1
    if can_wait_on_sockets(loop):
        wake = socket.socketpair()
        for end in wake:
            end.setblocking(False)
        loop.add_reader(wake[0].fileno(), _drain, wake[0])
        old_fd = signal.set_wakeup_fd(wake[1].fileno(), warn_on_full_buffer=False)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if wake is not None:
            signal.set_wakeup_fd(old_fd)
            loop.remove_reader(wake[0].fileno())
            for end in wake:
                end.close()

    return restore


def _drain(sock: socket.socket) -> None:
    # The bytes only woke the loop; the Python-level handler does the work.
    try:
        while sock.recv(4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass
