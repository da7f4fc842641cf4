"""Whether the backend answers: the offline state behind the banner, and its recovery.

Every data-port call of a signed-in window goes through :class:`WatchedPort`, so a
TransientError from any call marks the window offline, and any success marks it online again.
While offline, :class:`Connectivity` pings the backend with growing pauses until it answers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from tnm_desktop.data.port import DataPort, LiveState
from tnm_desktop.errors import TransientError
from tnm_desktop.gui.widgets.hubs import LiveHub
from tnm_desktop.gui.widgets.tasks import TaskRunner

log = logging.getLogger(__name__)


class Connectivity(QObject):
    """The backend's reachability as the window sees it.

    Args:
        data: The raw data port (pinged directly, so checks do not report on themselves).
        tasks: Runs the re-check loop.
        first_retry: Seconds before the first re-check; doubles up to ``max_retry``.

    Signals:
        offline_changed(bool): the backend became unreachable (True) or answers again (False).
        restored(): the backend answers again after being offline (views reload on it).
    """

    offline_changed = Signal(bool)
    restored = Signal()

    def __init__(self, data: DataPort, tasks: TaskRunner, parent: QObject | None = None, *,
                 first_retry: float = 1.0, max_retry: float = 30.0) -> None:
        super().__init__(parent)
        self._data = data
        self._tasks = tasks
        self._first_retry = first_retry
        self._max_retry = max_retry
        self.offline = False
        self.reason = ""

    def report_failure(self, exc: TransientError) -> None:
        """A call failed because the backend could not be reached."""
        self.reason = exc.message
        if not self.offline:
            log.info("backend unreachable: %s", exc)
            self._set_offline(True)
            self._tasks.spawn(self._recheck(), name="connectivity-recheck", key="connectivity")

    def report_success(self) -> None:
        """A call succeeded: the backend is reachable."""
        if self.offline:
            self._set_offline(False)

    def watch_live(self, live: LiveHub) -> None:
        """Also follow the live subscription: polling means the push channel broke — check why."""
        live.state_changed.connect(self._on_live_state_changed)

    def check_now(self) -> None:
        """Ping once now (e.g. when live updates fell back to polling)."""
        self._tasks.spawn(self._ping_once(), name="connectivity-check", key="connectivity-check")

    def _on_live_state_changed(self, state: str) -> None:
        if state == LiveState.POLLING.value:
            self.check_now()
        elif state == LiveState.LIVE.value:
            self.report_success()

    async def _ping_once(self) -> None:
        try:
            await self._data.ping()
        except TransientError as exc:
            self.report_failure(exc)
        else:
            self.report_success()

    async def _recheck(self) -> None:
        delay = self._first_retry
        while self.offline:
            await asyncio.sleep(delay)
            try:
                await self._data.ping()
            except TransientError as exc:
                self.reason = exc.message
                delay = min(delay * 2, self._max_retry)
            else:
                self.report_success()

    def _set_offline(self, offline: bool) -> None:
        self.offline = offline
        self.offline_changed.emit(offline)
        if not offline:
            self.restored.emit()


class WatchedPort:
    """A data port that tells :class:`Connectivity` how each call went; otherwise transparent."""

    def __init__(self, inner: DataPort, connectivity: Connectivity) -> None:
        self.inner = inner
        self._connectivity = connectivity

    def __repr__(self) -> str:
        return f"WatchedPort({self.inner!r})"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        return self._watched(attr)

    def _watched(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await method(*args, **kwargs)
            except TransientError as exc:
                self._connectivity.report_failure(exc)
                raise
            self._connectivity.report_success()
            return result

        return call
