"""Waiting on a condition instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(predicate: Callable[[], bool], within: float = 10.0, what: str = "condition") -> None:
    """Return once ``predicate()`` is true; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not met within {within} s")
        await asyncio.sleep(0.01)
