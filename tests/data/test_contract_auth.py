"""Contract: signing in, signing up, remembered sessions, signing out."""

from __future__ import annotations

import pytest
from tnm_desktop.errors import UserError

from tests.conftest import MemoryKeyring
from tests.data.backends import Backend


async def test_sign_in_with_the_right_password(backend: Backend) -> None:
    user = backend.db.create_user()
    port = await backend.signed_in(user)
    assert port.session is not None
    assert (port.session.user_id, port.session.email) == (user.id, user.email)
    assert (await port.get_profile()).email == user.email


@pytest.mark.parametrize("which", ["wrong password", "unknown email"])
async def test_wrong_password_and_unknown_email_read_the_same(backend: Backend, which: str) -> None:
    user = backend.db.create_user()
    port = await backend.adapter()
    email = user.email if which == "wrong password" else "nobody@example.com"
    with pytest.raises(UserError) as raised:
        await port.sign_in(email, "not the password")
    assert raised.value.message == "Wrong email or password."
    assert port.session is None


async def test_signed_out_calls_are_refused_clearly(backend: Backend) -> None:
    port = await backend.adapter()
    with pytest.raises(UserError) as raised:
        await port.list_strategies()
    assert raised.value.code in ("signed_out", "session_expired")


async def test_remembered_session_survives_a_rebuilt_adapter_and_sign_out_forgets_it(
        backend: Backend, isolated_keyring: MemoryKeyring) -> None:
    user = backend.db.create_user()
    first = await backend.signed_in(user, remember=True, session_key="session:profile-1")
    assert any(name == "session:profile-1" for _, name in isolated_keyring.items)
    stored = next(v for (_, n), v in isolated_keyring.items.items() if n == "session:profile-1")
    assert user.password not in stored
    await first.close()

    rebuilt = await backend.adapter("session:profile-1")
    session = await rebuilt.restore_session()
    assert session is not None and session.user_id == user.id
    assert (await rebuilt.get_profile()).id == user.id

    await rebuilt.sign_out()
    assert rebuilt.session is None
    assert not any(name == "session:profile-1" for _, name in isolated_keyring.items)
    again = await backend.adapter("session:profile-1")
    assert await again.restore_session() is None


async def test_without_remember_nothing_is_stored(backend: Backend, isolated_keyring: MemoryKeyring) -> None:
    user = backend.db.create_user()
    await backend.signed_in(user, remember=False, session_key="session:profile-2")
    assert not any(name == "session:profile-2" for _, name in isolated_keyring.items)
    assert await (await backend.adapter("session:profile-2")).restore_session() is None


async def test_sign_up_then_sign_in(backend: Backend) -> None:
    port = await backend.adapter()
    session = await port.sign_up("new.trader@example.com", "a long passphrase")
    assert session.email == "new.trader@example.com"
    settings = await port.get_settings()
    assert settings.risk_percent == 1.0
    other = await backend.adapter("session:other")
    assert (await other.sign_in("new.trader@example.com", "a long passphrase")).user_id == session.user_id


async def test_sign_up_rejects_a_taken_email_and_a_short_password(backend: Backend) -> None:
    user = backend.db.create_user()
    port = await backend.adapter()
    with pytest.raises(UserError) as taken:
        await port.sign_up(user.email, "a long passphrase")
    assert "already" in taken.value.message
    with pytest.raises(UserError) as short:
        await port.sign_up("someone@example.com", "short")
    assert "at least" in short.value.message
