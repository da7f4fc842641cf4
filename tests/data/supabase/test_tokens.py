"""Expired access tokens: refreshed once and retried; a dead session asks the trader to sign in."""

from __future__ import annotations

import asyncio

import pytest
from tnm_desktop.errors import UserError

from tests.conftest import MemoryKeyring
from tests.data.supabase.support import MakeAdapter, signed_in
from tests.data.supabase_backend import SupabaseProject
from tests.pg import Db
from tests.waiting import eventually


def bearer(project: SupabaseProject, method: str, path: str) -> list[tuple[str, int | None]]:
    return [(r.headers.get("authorization", ""), r.status) for r in project.http.of(method, path)]


async def test_a_401_refreshes_the_token_and_retries_once(db: Db, project: SupabaseProject,
                                                          make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    adapter = await signed_in(make_adapter, user)
    (sign_in,) = project.http.of("POST", "/auth/v1/token")
    first_refresh_token = project.http.auth.refresh_tokens.copy()
    project.http.expire_access_tokens()

    assert await adapter.list_strategies() == []

    reads = bearer(project, "GET", "/rest/v1/tv_strategies")
    assert [status for _, status in reads] == [401, 200]
    assert reads[0][0] != reads[1][0]  # the retry carries the new token
    refreshes = [r for r in project.http.of("POST", "/auth/v1/token") if r.param("grant_type") == "refresh_token"]
    assert len(refreshes) == 1 and refreshes[0].status == 200
    assert refreshes[0].body == {"refresh_token": next(iter(first_refresh_token))}
    assert sign_in.status == 200


async def test_requests_failing_together_cause_one_refresh(db: Db, project: SupabaseProject,
                                                           make_adapter: MakeAdapter) -> None:
    adapter = await signed_in(make_adapter, db.create_user())
    project.http.expire_access_tokens()

    await asyncio.gather(adapter.list_strategies(), adapter.list_agents(), adapter.get_settings(),
                         adapter.list_ea_projects())

    refreshes = [r for r in project.http.of("POST", "/auth/v1/token") if r.param("grant_type") == "refresh_token"]
    assert len(refreshes) == 1  # a second refresh with the same token would revoke the session
    assert not any(s.revoked for s in project.http.auth.sessions.values())
    await adapter.list_strategies()


async def test_a_dead_refresh_token_asks_to_sign_in_again(db: Db, project: SupabaseProject,
                                                          make_adapter: MakeAdapter,
                                                          isolated_keyring: MemoryKeyring) -> None:
    user = db.create_user()
    adapter = await signed_in(make_adapter, user, remember=True, session_key="session:dead")
    assert isolated_keyring.items
    project.http.auth.revoke_sessions(user.id)  # "sign out everywhere" from another device
    project.http.expire_access_tokens()

    with pytest.raises(UserError) as raised:
        await adapter.list_strategies()
    assert raised.value.code == "session_expired"
    assert "sign in again" in raised.value.message.lower()
    refreshes = [r for r in project.http.of("POST", "/auth/v1/token") if r.param("grant_type") == "refresh_token"]
    assert [r.status for r in refreshes] == [400]
    assert adapter.session is None
    assert isolated_keyring.items == {}  # a dead session is not restored at the next start
    with pytest.raises(UserError) as again:
        await adapter.list_strategies()
    assert again.value.code == "signed_out"


async def test_the_token_is_refreshed_ahead_of_its_expiry(db: Db, project: SupabaseProject,
                                                          make_adapter: MakeAdapter) -> None:
    project.http.auth.access_token_lifetime = 2
    adapter = await signed_in(make_adapter, db.create_user())

    def refreshed() -> bool:
        return any(r.param("grant_type") == "refresh_token" and r.status == 200
                   for r in project.http.of("POST", "/auth/v1/token"))

    await eventually(refreshed, within=5, what="a refresh before expiry")
    await asyncio.sleep(1.0)  # the first token has expired by now
    await adapter.list_strategies()
    assert [s for _, s in bearer(project, "GET", "/rest/v1/tv_strategies")] == [200]


async def test_a_reused_refresh_token_revokes_the_session_in_the_fake(db: Db, project: SupabaseProject) -> None:
    # The fake must catch a client that refreshes twice, or the one-refresher design is untested.
    user = db.create_user()
    async with project.http.client() as http:
        headers = {"apikey": project.http.anon_key}
        signed = (await http.post(f"{project.url}/auth/v1/token?grant_type=password", headers=headers,
                                  json={"email": user.email, "password": user.password})).json()
        token = signed["refresh_token"]
        first = await http.post(f"{project.url}/auth/v1/token?grant_type=refresh_token", headers=headers,
                                json={"refresh_token": token})
        reused = await http.post(f"{project.url}/auth/v1/token?grant_type=refresh_token", headers=headers,
                                 json={"refresh_token": token})
        newest = await http.post(f"{project.url}/auth/v1/token?grant_type=refresh_token", headers=headers,
                                 json={"refresh_token": first.json()["refresh_token"]})
    assert first.status_code == 200
    assert (reused.status_code, reused.json()["code"]) == (400, "refresh_token_already_used")
    assert (newest.status_code, newest.json()["code"]) == (400, "refresh_token_not_found")
