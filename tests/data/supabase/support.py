"""Helpers of the Supabase adapter's own tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tnm_desktop.data.supabase import SupabaseAdapter

from tests.pg import User

MakeAdapter = Callable[..., Awaitable[SupabaseAdapter]]


async def signed_in(make: MakeAdapter, user: User, **options: Any) -> SupabaseAdapter:
    """An adapter signed in as ``user`` (``remember`` and the adapter's options may be given)."""
    remember = options.pop("remember", False)
    adapter = await make(**options)
    await adapter.sign_in(user.email, user.password, remember=remember)
    return adapter
