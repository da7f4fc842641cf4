"""The remembered session: in the isolated keyring with "remember me", restored, and gone at sign-out."""

from __future__ import annotations

import asyncio
import json

import jwt
import pytest
from tnm_desktop.errors import TransientError

from tests.conftest import MemoryKeyring
from tests.data.supabase.support import MakeAdapter, signed_in
from tests.data.supabase_backend import SupabaseProject
from tests.pg import Db

ENTRY = ("tnm-desktop", "session:profile-7")


def refreshes(project: SupabaseProject) -> list[int | None]:
    return [r.status for r in project.http.of("POST", "/auth/v1/token") if r.param("grant_type") == "refresh_token"]


async def test_remember_me_stores_the_session_in_the_keyring_only(db: Db, project: SupabaseProject,
                                                                  make_adapter: MakeAdapter,
                                                                  isolated_keyring: MemoryKeyring) -> None:
    user = db.create_user()
    await signed_in(make_adapter, user, remember=True, session_key="session:profile-7")

    assert list(isolated_keyring.items) == [ENTRY]
    stored = json.loads(isolated_keyring.items[ENTRY])
    assert stored["user"]["id"] == user.id
    assert stored["refresh_token"] in project.http.auth.refresh_tokens
    assert user.password not in isolated_keyring.items[ENTRY]


async def test_without_remember_nothing_is_written_and_an_old_entry_goes(db: Db, make_adapter: MakeAdapter,
                                                                         isolated_keyring: MemoryKeyring) -> None:
    user = db.create_user()
    await signed_in(make_adapter, user, session_key="session:profile-7")
    assert isolated_keyring.items == {}

    await signed_in(make_adapter, user, remember=True, session_key="session:profile-7")
    await signed_in(make_adapter, user, remember=False, session_key="session:profile-7")
    assert isolated_keyring.items == {}  # "don't remember me" replaces the earlier "remember me"


async def test_a_rebuilt_adapter_restores_silently_and_sign_out_forgets(db: Db, project: SupabaseProject,
                                                                         make_adapter: MakeAdapter,
                                                                         isolated_keyring: MemoryKeyring) -> None:
    user = db.create_user()
    first = await signed_in(make_adapter, user, remember=True, session_key="session:profile-7")
    await first.close()

    rebuilt = await make_adapter("session:profile-7")
    session = await rebuilt.restore_session()
    assert session is not None and session.user_id == user.id
    assert (await rebuilt.get_profile()).id == user.id
    (check,) = project.http.of("GET", "/auth/v1/user")  # a valid stored token is checked, not spent
    assert check.status == 200 and refreshes(project) == []

    stored = json.loads(isolated_keyring.items[ENTRY])
    await rebuilt.sign_out()
    (logout,) = project.http.of("POST", "/auth/v1/logout")
    assert logout.query == [("scope", "local")] and logout.status == 204
    assert logout.headers["authorization"] == f"Bearer {stored['access_token']}"
    assert rebuilt.session is None and isolated_keyring.items == {}
    assert await (await make_adapter("session:profile-7")).restore_session() is None
    assert project.http.auth.sessions[_session_id(stored)].revoked  # revoked on the server too


async def test_an_expired_remembered_session_is_refreshed_and_rotated(db: Db, project: SupabaseProject,
                                                                      make_adapter: MakeAdapter,
                                                                      isolated_keyring: MemoryKeyring) -> None:
    user = db.create_user()
    project.http.auth.access_token_lifetime = 1
    first = await signed_in(make_adapter, user, remember=True, session_key="session:profile-7")
    await first.close()
    stale = json.loads(isolated_keyring.items[ENTRY])
    await asyncio.sleep(1.5)  # the app was closed past the token's expiry

    rebuilt = await make_adapter("session:profile-7")
    assert (await rebuilt.restore_session()) is not None
    assert refreshes(project) == [200]
    assert project.http.of("GET", "/auth/v1/user") == []
    rotated = json.loads(isolated_keyring.items[ENTRY])
    assert rotated["refresh_token"] != stale["refresh_token"]  # the spent token is not kept
    assert rotated["refresh_token"] in project.http.auth.refresh_tokens


async def test_a_token_the_server_refuses_is_refreshed_on_restore(db: Db, project: SupabaseProject,
                                                                  make_adapter: MakeAdapter,
                                                                  isolated_keyring: MemoryKeyring) -> None:
    user = db.create_user()
    first = await signed_in(make_adapter, user, remember=True, session_key="session:profile-7")
    await first.close()
    project.http.expire_access_tokens()  # this machine's clock is behind: the server sees it expired

    rebuilt = await make_adapter("session:profile-7")
    assert (await rebuilt.restore_session()) is not None
    assert [r.status for r in project.http.of("GET", "/auth/v1/user")] == [403]
    assert refreshes(project) == [200]
    assert await rebuilt.list_strategies() == []


async def test_a_dead_remembered_session_is_forgotten(db: Db, project: SupabaseProject, make_adapter: MakeAdapter,
                                                      isolated_keyring: MemoryKeyring) -> None:
    user = db.create_user()
    first = await signed_in(make_adapter, user, remember=True, session_key="session:profile-7")
    await first.close()
    project.http.auth.revoke_sessions(user.id)

    assert await (await make_adapter("session:profile-7")).restore_session() is None
    assert isolated_keyring.items == {}


async def test_restoring_offline_keeps_the_session_for_later(db: Db, project: SupabaseProject,
                                                             make_adapter: MakeAdapter,
                                                             isolated_keyring: MemoryKeyring) -> None:
    user = db.create_user()
    first = await signed_in(make_adapter, user, remember=True, session_key="session:profile-7")
    await first.close()
    project.http.offline = True

    with pytest.raises(TransientError):
        await (await make_adapter("session:profile-7")).restore_session()
    assert ENTRY in isolated_keyring.items
    project.http.offline = False
    assert await (await make_adapter("session:profile-7")).restore_session() is not None


def _session_id(stored: dict[str, object]) -> str:
    return str(jwt.decode(str(stored["access_token"]), options={"verify_signature": False})["session_id"])
