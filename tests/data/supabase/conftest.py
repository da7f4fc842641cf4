"""Fixtures of the Supabase adapter's own tests: a fake project over the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from tnm_desktop.data.supabase import SupabaseAdapter

from tests.data.supabase.support import MakeAdapter
from tests.data.supabase_backend import SupabaseProject
from tests.pg import Db


@pytest_asyncio.fixture
async def project(db: Db) -> AsyncIterator[SupabaseProject]:
    """A fake Supabase project (Auth, PostgREST, Realtime) over a fresh test database."""
    made = SupabaseProject(db)
    await made.start()
    try:
        yield made
    finally:
        await made.close()


@pytest_asyncio.fixture
async def make_adapter(project: SupabaseProject) -> AsyncIterator[MakeAdapter]:
    """Builds signed-out adapters for the project; closes them after the test."""
    made: list[SupabaseAdapter] = []

    async def make(session_key: str = "session:test", **options: Any) -> SupabaseAdapter:
        adapter = await project.adapter(session_key, **options)
        made.append(adapter)
        return adapter

    yield make
    for adapter in reversed(made):
        await adapter.close()

