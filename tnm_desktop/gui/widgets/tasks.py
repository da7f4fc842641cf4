"""Every asyncio task of the GUI goes through one :class:`TaskRunner`.

It keeps a reference (so a task is never garbage-collected mid-flight), names it, reports its
failure — a :class:`~tnm_desktop.errors.TnmError` as a message to the user, anything else as a
bug to the crash hook — and cancels everything on shutdown. Tasks started with a ``key`` are
preemptive: a new load of a view cancels that view's previous load, so stale results never show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QObject
from shiboken6 import Shiboken

from tnm_desktop.errors import Cancelled, TnmError

log = logging.getLogger(__name__)
T = TypeVar("T")
SHUTDOWN_WAIT_S = 10.0


class TaskRunner:
    """Creates, tracks and cancels the GUI's tasks.

    Args:
        on_user_error: Shows a TnmError to the user (its message is written for them).
        on_bug: Reports an unexpected exception (the crash hook).
    """

    def __init__(self, on_user_error: Callable[[TnmError], None],
                 on_bug: Callable[[BaseException], None]) -> None:
        self._on_user_error = on_user_error
        self._on_bug = on_bug
        self._tasks: set[asyncio.Task[Any]] = set()
        self._keyed: dict[str, asyncio.Task[Any]] = {}
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None  # set at shutdown

    @property
    def pending(self) -> int:
        """How many tasks are running."""
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str, key: str | None = None,
              on_result: Callable[[T], None] | None = None,
              on_error: Callable[[TnmError], None] | None = None) -> asyncio.Future[T]:
        """Start ``coro`` as a tracked task (after :meth:`shutdown`: run nothing, return it cancelled).

        Args:
            coro: The work.
            name: Shown in logs and crash reports.
            key: When given, a still-running task with the same key is cancelled first.
            on_result: Called with the result on success (on the GUI thread).
            on_error: Handles a TnmError instead of the default message to the user.
        """
        if self._closed:
            # A window closing still hears a last timer or live change: its work is not wanted.
            coro.close()
            # (It may come after the loop itself ended: the future is made on the loop it ran on.)
            assert self._loop is not None
            future: asyncio.Future[T] = self._loop.create_future()
            future.cancel()
            return future
        if key is not None and (previous := self._keyed.get(key)) is not None and not previous.done():
            previous.cancel()
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        if key is not None:
            self._keyed[key] = task

        def done(t: asyncio.Task[T]) -> None:
            self._tasks.discard(t)
            if key is not None and self._keyed.get(key) is t:
                del self._keyed[key]
            if t.cancelled():
                return
            exc = t.exception()
            if exc is None:
                if on_result is not None and _alive(on_result):
                    self._guard(lambda: on_result(t.result()), name)
            elif isinstance(exc, Cancelled):
                return
            elif isinstance(exc, TnmError):
                log.info("%s: %s", name, exc)
                handler = on_error or self._on_user_error
                if _alive(handler):
                    self._guard(lambda: handler(exc), name)
            else:
                log.error("task %s failed", name, exc_info=exc)
                self._on_bug(exc)

        task.add_done_callback(done)
        return task

    def _guard(self, call: Callable[[], None], name: str) -> None:
        try:
            call()
        except Exception as exc:  # a callback's bug goes to the crash hook, not into asyncio's log
            log.error("callback of %s failed", name, exc_info=exc)
            self._on_bug(exc)

    async def shutdown(self, wait_s: float = SHUTDOWN_WAIT_S) -> None:
        """Cancel every task and wait for them to finish.

        A task still running a second after its cancel is cancelled again (a cancel can be lost
        to a wake-up that comes with it); one still running after ``wait_s`` is left behind with
        a warning, so that quitting never hangs on it.
        """
        self._closed = True
        loop = self._loop = asyncio.get_running_loop()
        pending = set(self._tasks)
        deadline = loop.time() + wait_s
        while pending:
            for task in pending:
                task.cancel()
            left = deadline - loop.time()
            if left <= 0:
                log.warning("left running at shutdown: %s", ", ".join(sorted(t.get_name() for t in pending)))
                return
            _done, pending = await asyncio.wait(pending, timeout=min(1.0, left))


def _alive(callback: Callable[..., object]) -> bool:
    """Whether a callback's widget still exists: a view deleted while its load was in flight no
    longer wants the answer (calling into it would raise "already deleted"). The widget is the
    method's own, or one a lambda holds (``lambda s: self._show(s, n)``)."""
    owners = [getattr(callback, "__self__", None)]
    for cell in getattr(callback, "__closure__", None) or ():
        with contextlib.suppress(ValueError):  # a cell not filled yet
            owners.append(cell.cell_contents)
    return all(Shiboken.isValid(owner) for owner in owners if isinstance(owner, QObject))
