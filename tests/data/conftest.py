"""Fixtures of the data-port contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from tests.data.backends import Backend, local_backend
from tests.data.supabase_backend import supabase_backend
from tests.pg import Db

# Backends register here: name → factory. The Supabase adapter's tests add theirs.
BACKENDS: dict[str, Callable[[Db], Backend]] = {"local": local_backend, "supabase": supabase_backend}


@pytest_asyncio.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest, db: Db) -> AsyncIterator[Backend]:
    """Each contract test runs once per backend."""
    made = BACKENDS[request.param](db)
    try:
        yield made
    finally:
        await made.close()
