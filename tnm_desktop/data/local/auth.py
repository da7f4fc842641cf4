"""Sign-up and sign-in for the local workspace, against ``auth.users`` as Supabase Auth keeps it.

Passwords are bcrypt hashes checked in a worker thread. An unknown email costs the same bcrypt
check as a wrong password and gets the same message, and repeated failures for an address slow
its next attempts down. "Remember me" stores a random refresh token in the OS keyring and only
its SHA-256 in the database; each restore rotates it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import LiteralString

import bcrypt
import psycopg
from psycopg.rows import dict_row

from tnm_desktop import keystore
from tnm_desktop.data.local.db import translated
from tnm_desktop.domain import Session
from tnm_desktop.errors import UserError
from tnm_desktop.loops import on_selector_loop

BCRYPT_ROUNDS = 12
REMEMBER_FOR = timedelta(days=30)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked when the email is unknown, so both cases cost one bcrypt check.
_DUMMY_HASH = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=BCRYPT_ROUNDS, prefix=b"2a"))
WRONG = "Wrong email or password."


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


@dataclass
class LocalAuth:
    """Auth for one local workspace.

    Args:
        conninfo: libpq URL of the ``supabase_auth_admin`` role.
        session_key: Keyring entry name for this workspace's remembered session.
        rounds: bcrypt cost for new passwords.
    """

    conninfo: str
    session_key: str
    rounds: int = BCRYPT_ROUNDS
    _failures: dict[str, _Failures] = field(default_factory=dict, repr=False)

    async def _one(self, query: LiteralString, params: Sequence[object]) -> dict[str, object] | None:
        # One statement on a connection of its own; on a loop that can wait on sockets (see db.py).
        return await on_selector_loop(lambda: self._run(query, params))

    async def _run(self, query: LiteralString, params: Sequence[object]) -> dict[str, object] | None:
        try:
            conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, row_factory=dict_row)
            try:
                cur = await conn.execute(query, params)
                return await cur.fetchone() if cur.description else None
            finally:
                await conn.close()
        except psycopg.Error as exc:
            raise translated(exc) from exc

    async def sign_up(self, email: str, password: str) -> Session:
        """Create a user; raise UserError for a bad email, weak password or a taken address."""
        email = email.strip().lower()
        if not _EMAIL.match(email):
            raise UserError("Enter a valid email address.", code="invalid_email")
        if len(password) < 8:
            raise UserError("Use a password of at least 8 characters.", code="weak_password")
        hashed = await asyncio.to_thread(
            bcrypt.hashpw, password.encode(), bcrypt.gensalt(rounds=self.rounds, prefix=b"2a"))
        row = await self._one(
            "insert into auth.users (email, encrypted_password, email_confirmed_at, "
            "raw_app_meta_data) values (%s, %s, now(), '{\"provider\": \"email\"}') "
            "returning id::text as id", (email, hashed.decode()))
        assert row is not None
        return Session(str(row["id"]), email, "local")

    async def sign_in(self, email: str, password: str) -> Session:
        """Check the password; raise UserError(wrong_password) whatever was wrong."""
        email = email.strip().lower()
        await self._slow_down(email)
        row = await self._one(
            "select id::text as id, email, encrypted_password, banned_until, deleted_at "
            "from auth.users where lower(email) = %s", (email,))
        stored = str(row["encrypted_password"]).encode() if row and row["encrypted_password"] else _DUMMY_HASH
        ok = await asyncio.to_thread(bcrypt.checkpw, password.encode(), stored)
        if not ok or row is None or row["deleted_at"] is not None:
            self._failed(email)
            raise UserError(WRONG, code="wrong_password")
        banned = row["banned_until"]
        if isinstance(banned, datetime) and banned > datetime.now(UTC):
            raise UserError("This account is locked.", code="locked")
        self._failures.pop(email, None)
        await self._touch(str(row["id"]))
        return Session(str(row["id"]), str(row["email"]), "local")

    async def remember(self, session: Session) -> None:
        """Keep the session in the keyring so it survives a restart."""
        token = secrets.token_urlsafe(32)
        await self._store_token(session.user_id, token)
        value = json.dumps({"user_id": session.user_id, "email": session.email, "refresh_token": token})
        await asyncio.to_thread(keystore.set_secret, self.session_key, value)

    async def restore(self) -> Session | None:
        """Sign in from the remembered session; None when there is none or it expired."""
        raw = await asyncio.to_thread(keystore.get_secret, self.session_key)
        if not raw:
            return None
        try:
            saved = json.loads(raw)
            user_id, email, token = saved["user_id"], saved["email"], saved["refresh_token"]
        except (ValueError, KeyError, TypeError):
            await asyncio.to_thread(keystore.delete_secret, self.session_key)
            return None
        used = await self._one(
            "update auth.refresh_tokens set revoked = true, last_used_at = now() "
            "where token_hash = %s and user_id = %s and not revoked and expires_at > now() "
            "returning id", (_digest(token), user_id))
        if used is None:
            await asyncio.to_thread(keystore.delete_secret, self.session_key)
            return None
        session = Session(str(user_id), str(email), "local")
        await self.remember(session)  # rotate
        return session

    async def forget(self) -> None:
        """Revoke and delete the remembered session."""
        raw = await asyncio.to_thread(keystore.get_secret, self.session_key)
        if raw:
            try:
                token = json.loads(raw)["refresh_token"]
            except (ValueError, KeyError, TypeError):
                token = None
            if token:
                await self._one("update auth.refresh_tokens set revoked = true where token_hash = %s",
                                (_digest(token),))
        await asyncio.to_thread(keystore.delete_secret, self.session_key)

    # Internals ------------------------------------------------------------------------------

    async def _store_token(self, user_id: str, token: str) -> None:
        await self._one("insert into auth.refresh_tokens (user_id, token_hash, expires_at) values (%s, %s, %s)",
                        (user_id, _digest(token), datetime.now(UTC) + REMEMBER_FOR))

    async def _touch(self, user_id: str) -> None:
        await self._one("update auth.users set last_sign_in_at = now() where id = %s", (user_id,))

    def _failed(self, email: str) -> None:
        entry = self._failures.setdefault(email, _Failures())
        entry.count += 1
        entry.last = time.monotonic()

    async def _slow_down(self, email: str) -> None:
        entry = self._failures.get(email)
        if entry is None or entry.count < 3:
            return
        # 1 s after the 3rd failure, doubling up to 30 s; the clock runs from the last failure.
        delay = min(2.0 ** (entry.count - 3), 30.0) - (time.monotonic() - entry.last)
        if delay > 0:
            await asyncio.sleep(delay)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
