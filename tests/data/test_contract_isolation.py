"""Contract: two users through the port never see each other's rows."""

from __future__ import annotations

from tnm_desktop.domain import JobFilter, SignalFilter

from tests.data.backends import Backend
from tests.world import build_world


async def test_two_users_see_only_their_own(backend: Backend) -> None:
    alice, bob = backend.db.create_user(), backend.db.create_user()
    worlds = {u.id: build_world(backend.db, u) for u in (alice, bob)}
    for user in (alice, bob):
        port = await backend.signed_in(user)
        ids = worlds[user.id].ids
        assert [s.id for s in await port.list_strategies()] == [ids["tv_strategies"]]
        assert [s.id for s in await port.list_signals(SignalFilter())] == [ids["tv_signals"]]
        assert [j.id for j in await port.list_jobs(JobFilter())] == [ids["jobs"]]
        assert [p.id for p in await port.list_ea_projects()] == [ids["ea_projects"]]
        assert [a.id for a in await port.list_accounts()] == [ids["trading_accounts"]]
        assert [h.account_id for h in await port.account_health()] == [ids["trading_accounts"]]
        assert [f.id for f in await port.recent_sync_failures()] == [ids["sync_logs"]]
        assert [b.id for b in await port.list_broker_connections()] == [ids["broker_connections"]]
        assert [a.id for a in await port.list_agents()] == [worlds[user.id].agent.id]
        other = worlds[bob.id if user is alice else alice.id].ids
        assert await port.get_signals([other["tv_signals"]]) == []
        assert await port.get_jobs([other["jobs"]]) == []
        assert await port.get_strategy(other["tv_strategies"]) is None
        assert await port.sync_history(other["trading_accounts"]) == []


async def test_signing_in_as_another_user_on_the_same_adapter_sees_only_theirs(backend: Backend) -> None:
    # The local adapter sets each pooled connection up for its user once: a new user must not
    # inherit the previous user's setup on a connection the pool hands back.
    alice, bob = backend.db.create_user(), backend.db.create_user()
    worlds = {u.id: build_world(backend.db, u) for u in (alice, bob)}
    port = await backend.signed_in(alice)
    assert [j.id for j in await port.list_jobs(JobFilter())] == [worlds[alice.id].ids["jobs"]]
    await port.sign_out()
    await port.sign_in(bob.email, bob.password)
    assert [j.id for j in await port.list_jobs(JobFilter())] == [worlds[bob.id].ids["jobs"]]
    assert [s.id for s in await port.list_strategies()] == [worlds[bob.id].ids["tv_strategies"]]
    assert await port.get_jobs([worlds[alice.id].ids["jobs"]]) == []
