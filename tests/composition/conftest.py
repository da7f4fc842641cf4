"""Fixtures of the composition root's tests: the terminal tests' simulators, and the loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.loops import RefusingLoop
from tests.terminal.conftest import served, state_file

__all__ = ["served", "state_file"]


def pytest_asyncio_loop_factories(config: pytest.Config,
                                  item: pytest.Item) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The event-loop tests run on a loop that refuses add_reader, as the GUI's does on Windows."""
    if item.path.name == "test_loops.py":
        return {"proactor-like": RefusingLoop}
    return {"selector": asyncio.SelectorEventLoop}
