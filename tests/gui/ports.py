"""Hand-written wrappers around the real adapter: a slow backend and one that can go unreachable.

Each forwards every call to the real LocalAdapter on the test database; only timing or reachability
changes. Attributes that are not coroutines (``session``) pass straight through.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from tnm_desktop.data.port import DataPort
from tnm_desktop.errors import TransientError


class _Wrapper:
    def __init__(self, inner: DataPort) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            await self.before(name)
            return await attr(*args, **kwargs)

        return call

    async def before(self, name: str) -> None:
        raise NotImplementedError


class SlowPort(_Wrapper):
    """Every call waits ``delay`` seconds before it reaches the database (a far-away backend)."""

    def __init__(self, inner: DataPort, delay: float = 2.0) -> None:
        super().__init__(inner)
        self.delay = delay
        self.calls: list[str] = []

    async def before(self, name: str) -> None:
        self.calls.append(name)
        await asyncio.sleep(self.delay)


class FlakyPort(_Wrapper):
    """While ``down`` is set, every call fails as an unreachable backend does."""

    def __init__(self, inner: DataPort) -> None:
        super().__init__(inner)
        self.down = False

    async def before(self, name: str) -> None:
        if self.down:
            raise TransientError("The local database cannot be reached.", code="offline")
