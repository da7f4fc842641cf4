"""The agent's adapter, built by ``spawn()`` on another thread's loop, shares the session safely."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from tnm_desktop.data.port import Change, DataPort, LiveState, Table
from tnm_desktop.domain import JobRequest, JobType

from tests.conftest import MemoryKeyring
from tests.data.supabase.support import MakeAdapter, signed_in
from tests.data.supabase_backend import SupabaseProject
from tests.pg import Db
from tests.waiting import eventually

T = TypeVar("T")


async def on_agent_thread(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` on a thread with its own event loop while this loop keeps running."""
    result: dict[str, Any] = {}

    def main() -> None:
        try:
            result["value"] = asyncio.run(work())
        except BaseException as exc:  # handed back to the test
            result["error"] = exc

    thread = threading.Thread(target=main, name="agent-test")
    thread.start()
    await asyncio.to_thread(thread.join)
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]


def refreshes(project: SupabaseProject) -> list[int | None]:
    return [r.status for r in project.http.of("POST", "/auth/v1/token") if r.param("grant_type") == "refresh_token"]


async def test_the_spawned_adapter_acts_as_the_same_user(db: Db, project: SupabaseProject,
                                                         make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    owner = await signed_in(make_adapter, user)
    factory = owner.spawn()

    async def agent() -> tuple[str | None, str]:
        port = await factory()
        try:
            job = await port.enqueue_job(JobRequest(JobType.GET_ACCOUNT))
            return (port.session.user_id if port.session else None), job.id
        finally:
            await port.close()

    user_id, job_id = await on_agent_thread(agent)
    assert user_id == user.id
    assert [j.id for j in await owner.get_jobs([job_id])] == [job_id]
    assert refreshes(project) == []  # borrowing spends no refresh token


async def test_both_threads_with_expired_tokens_refresh_once(db: Db, project: SupabaseProject,
                                                             make_adapter: MakeAdapter) -> None:
    owner = await signed_in(make_adapter, db.create_user())
    factory = owner.spawn()
    project.http.expire_access_tokens()

    async def agent() -> int:
        port = await factory()
        try:
            return len(await asyncio.gather(*(port.list_agents() for _ in range(3))))
        finally:
            await port.close()

    owner_reads, agent_reads = await asyncio.gather(
        asyncio.gather(owner.list_strategies(), owner.get_settings()), on_agent_thread(agent))
    assert agent_reads == 3 and len(owner_reads) == 2
    assert refreshes(project) == [200]  # two refreshers would have tripped reuse detection
    assert not any(s.revoked for s in project.http.auth.sessions.values())

    project.http.expire_access_tokens()
    await owner.list_strategies()  # the rotated refresh token is the one the owner holds
    assert refreshes(project) == [200, 200]


async def test_the_spawned_adapter_never_touches_the_remembered_session(db: Db, project: SupabaseProject,
                                                                        make_adapter: MakeAdapter,
                                                                        isolated_keyring: MemoryKeyring) -> None:
    owner = await signed_in(make_adapter, db.create_user(), remember=True, session_key="session:desk")
    remembered = dict(isolated_keyring.items)
    factory = owner.spawn()

    async def agent() -> None:
        port = await factory()
        try:
            assert await port.restore_session() == owner.session
            await port.sign_out()  # the agent stops using the session; the GUI stays signed in
            assert port.session is None
        finally:
            await port.close()

    await on_agent_thread(agent)
    assert isolated_keyring.items == remembered
    assert owner.session is not None and await owner.list_strategies() == []
    assert project.http.of("POST", "/auth/v1/logout") == []


async def test_the_spawned_adapter_gets_live_job_changes_on_its_own_socket(db: Db, project: SupabaseProject,
                                                                           make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    owner = await signed_in(make_adapter, user)
    factory = owner.spawn()
    subscribed = threading.Event()
    job_id: dict[str, str] = {}

    async def agent() -> list[Change]:
        port: DataPort = await factory()
        changes: list[Change] = []
        try:
            sub = await port.subscribe([Table.JOBS], changes.append)
            assert sub.state is LiveState.LIVE
            subscribed.set()
            await eventually(lambda: "id" in job_id and any(c.id == job_id["id"] for c in changes),
                             what="the job on the agent's thread")
            await sub.close()
            return changes
        finally:
            await port.close()

    running = asyncio.ensure_future(on_agent_thread(agent))
    await asyncio.to_thread(subscribed.wait, 10)
    job_id["id"] = (await owner.enqueue_job(JobRequest(JobType.SYNC_ACCOUNT))).id
    changes = await running
    assert next((c.table, c.op) for c in changes if c.id == job_id["id"]) == (Table.JOBS, "insert")
    assert len(project.realtime.messages("phx_join")) == 1
