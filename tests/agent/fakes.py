"""Hand-written test doubles for the agent's ports (no MagicMock)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tnm_desktop.data.port import DataPort
from tnm_desktop.domain import ClaimedJob
from tnm_desktop.errors import TnmError


class RecordingRunner:
    """A job runner that records what it ran and can be told to fail."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, float]] = []  # (job id, monotonic time it started)
        self.syncs: list[str] = []
        self.fail_with: dict[str, TnmError] = {}  # job type -> error to raise once
        self.started = 0
        self.delay = 0.0
        self.done: list[str] = []  # job ids whose outcome was reported

    async def start(self) -> None:
        self.started += 1

    async def run(self, claimed: ClaimedJob) -> dict[str, Any]:
        self.ran.append((claimed.job.id, time.monotonic()))
        if self.delay:
            await asyncio.sleep(self.delay)
        error = self.fail_with.pop(claimed.job.job_type.value, None)
        if error is not None:
            raise error
        return {"done": claimed.job.job_type.value}

    async def sync(self, sync_type: str) -> None:
        self.syncs.append(sync_type)

    def warm(self) -> None:
        pass  # nothing to read ahead

    async def job_done(self, claimed: ClaimedJob, *, more: bool) -> None:
        self.done.append(claimed.job.id)

    async def manage(self) -> None:
        await asyncio.Event().wait()  # nothing to manage; cancelled when the agent stops

    async def close(self) -> None:
        pass


class CountingPort:
    """Wraps a real data port and records when each call was made and which have returned; a
    gate set for a call's name holds that call, once made, until the test opens it."""

    def __init__(self, inner: DataPort) -> None:
        self._inner = inner
        self.calls: list[tuple[float, str]] = []
        self.returned: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.under_way: Counter[str] = Counter()  # calls begun and not yet returned, by name

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or not asyncio.iscoroutinefunction(attr):
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((time.monotonic(), name))
            self.under_way[name] += 1
            try:
                gate = self.gates.get(name)
                if gate is not None:
                    await gate.wait()
                result = await attr(*args, **kwargs)
            finally:
                self.under_way[name] -= 1
            self.returned.append(name)
            return result

        return counted

    def since(self, moment: float, *, excluding: Callable[[str], bool] = lambda _n: False) -> list[tuple[float, str]]:
        """Calls made after ``moment``."""
        return [c for c in self.calls if c[0] >= moment and not excluding(c[1])]
