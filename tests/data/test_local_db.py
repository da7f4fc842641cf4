"""The local workspace's connections: one kept for calls one after another, the pool for the rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from tnm_desktop.data.local.db import UserDb
from tnm_desktop.errors import TransientError

from tests.pg import Db, User


@pytest_asyncio.fixture
async def user_db(db: Db) -> AsyncIterator[tuple[UserDb, User]]:
    user = db.create_user()
    made = UserDb(db.cluster.conninfo(user="authenticator", dbname=db.name))
    made.act_as(user.id, user.email)
    try:
        yield made, user
    finally:
        await made.close()


async def _backend(user_db: UserDb) -> int:
    row = await user_db.one("select pg_backend_pid() as pid")
    return int(row["pid"])


async def test_calls_one_after_another_use_one_connection_as_the_user(user_db: tuple[UserDb, User]) -> None:
    made, user = user_db
    pids = {await _backend(made) for _ in range(5)}
    assert len(pids) == 1
    row = await made.one("select auth.uid()::text as uid, current_user as role")
    assert row == {"uid": user.id, "role": "authenticated"}


async def test_calls_at_the_same_time_each_get_a_connection(user_db: tuple[UserDb, User]) -> None:
    made, _ = user_db
    rows = await asyncio.gather(*(made.one("select pg_backend_pid() as pid, pg_sleep(0.2)") for _ in range(3)))
    assert len({r["pid"] for r in rows}) == 3


async def test_a_connection_the_database_dropped_is_replaced(db: Db, user_db: tuple[UserDb, User]) -> None:
    made, _ = user_db
    first = await _backend(made)
    db.admin.execute("select pg_terminate_backend(%s)", (first,))
    # The call that finds the connection gone says the database cannot be reached (as with any
    # pooled connection); the next one is made on a fresh connection.
    with pytest.raises(TransientError):
        await _backend(made)
    assert await _backend(made) != first


async def test_a_cancelled_call_leaves_the_next_one_an_answer(user_db: tuple[UserDb, User]) -> None:
    made, _ = user_db
    slow = asyncio.ensure_future(made.rows("select pg_sleep(30)"))
    await asyncio.sleep(0.3)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    # Not behind the sleep (30 s): the statement was stopped, or its connection set aside.
    row = await asyncio.wait_for(made.one("select 41 + 1 as n"), timeout=20)
    assert row == {"n": 42}
