"""Fixtures of the data-port contract suite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from tests.data.backends import Backend, local_backend
from tests.data.supabase_backend import supabase_backend
from tests.loops import RefusingLoop
from tests.pg import Db

# Backends register here: name → factory. The Supabase adapter's tests add theirs.
BACKENDS: dict[str, Callable[[Db], Backend]] = {"local": local_backend, "supabase": supabase_backend}

# The loops the contract suite runs on: a selector loop (Linux, the agent's thread, the headless
# commands), and one that refuses add_reader as Windows' proactor loop does (the GUI's on Windows).
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"selector": asyncio.SelectorEventLoop,
                                                             "proactor-like": RefusingLoop}


def pytest_asyncio_loop_factories(config: pytest.Config,
                                  item: pytest.Item) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run each contract test on both loops; the other tests here on the selector loop."""
    return LOOPS if item.path.name.startswith("test_contract_") else {"selector": LOOPS["selector"]}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the Supabase backend on the refusing loop: its stand-in servers (the tests' fake
    PostgREST and GoTrue) run psycopg on the test's loop themselves, and the Supabase adapter uses
    no psycopg — httpx and websockets work on a proactor loop."""
    left_out = [item for item in items if _on_refusing_loop(item) and _param(item, "backend") == "supabase"]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


def _param(item: pytest.Item, name: str) -> object:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get(name)


def _on_refusing_loop(item: pytest.Item) -> bool:
    return _param(item, "_asyncio_loop_factory") is RefusingLoop


@pytest_asyncio.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, db: Db) -> AsyncIterator[Backend]:
    """Each contract test runs once per backend."""
    made = BACKENDS[request.param](db)
    try:
        yield made
    finally:
        await made.close()
