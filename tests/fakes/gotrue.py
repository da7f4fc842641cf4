"""A fake Supabase Auth (GoTrue) over ``auth.users`` of the real test database.

Passwords are checked against the bcrypt hashes in ``auth.users``; sign-up inserts there (the
schema's trigger makes the profile). Access tokens are HS256 JWTs with Supabase's claims and a
lifetime the test controls; refresh tokens rotate on every use, and presenting a spent one
revokes its whole session (reuse detection, without Supabase's grace interval, so that a client
refreshing twice is caught). Errors use the 2024-01-01 API shape ``{code, message}``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import httpx
import psycopg
from psycopg.rows import dict_row

from tests.fakes.tokens import Signer, TokenRejected

API_VERSION = "2024-01-01"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def auth_error(status: int, code: str, message: str, **extra: Any) -> httpx.Response:
    """An error in the shape of API version 2024-01-01."""
    return httpx.Response(status, headers={"content-type": "application/json", "x-supabase-api-version": API_VERSION},
                          content=json.dumps({"code": code, "message": message, **extra}).encode())


def ok(body: Any, status: int = 200) -> httpx.Response:
    """A successful JSON answer."""
    return httpx.Response(status, headers={"content-type": "application/json"}, content=json.dumps(body).encode())


@dataclass
class AuthSession:
    """One sign-in: its user and whether it was revoked."""

    id: str
    user_id: str
    revoked: bool = False


@dataclass
class RefreshToken:
    """One refresh token of a session."""

    session_id: str
    spent: bool = False


@dataclass
class FakeAuth:
    """Supabase Auth's endpoints under ``/auth/v1``.

    Attributes:
        access_token_lifetime: Seconds an access token is valid (``expires_in``).
        autoconfirm: Whether sign-up signs in at once (email confirmation disabled).
    """

    conninfo: str  # supabase_auth_admin: owns auth.users
    signer: Signer
    issuer: str
    access_token_lifetime: int = 3600
    autoconfirm: bool = True
    sessions: dict[str, AuthSession] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    async def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        """Answer one request to ``/auth/v1<path>``."""
        route = (request.method, path)
        if route == ("GET", "/health"):
            return ok({"version": "fake", "name": "GoTrue", "description": "a fake Supabase Auth"})
        if route == ("POST", "/token"):
            grant = request.url.params.get("grant_type")
            if grant == "password":
                return await self._password(_body(request))
            if grant == "refresh_token":
                return await self._refresh(_body(request))
            return auth_error(400, "validation_failed", f"unsupported_grant_type: {grant}")
        if route == ("POST", "/signup"):
            return await self._sign_up(_body(request))
        if route == ("POST", "/logout"):
            return self._logout(request)
        if route == ("GET", "/user"):
            return await self._user(request)
        return auth_error(404, "not_found", f"no route {request.method} {path}")

    # Administration for tests ------------------------------------------------------------------

    def revoke_sessions(self, user_id: str | None = None) -> None:
        """End sessions server-side (every session, or one user's), as "sign out everywhere" does."""
        with self._lock:
            for session in self.sessions.values():
                if user_id is None or session.user_id == user_id:
                    session.revoked = True

    # Endpoints ---------------------------------------------------------------------------------

    async def _password(self, body: dict[str, Any]) -> httpx.Response:
        email, password = str(body.get("email") or "").strip().lower(), str(body.get("password") or "")
        user = await self._find_user(email)
        stored = (user or {}).get("encrypted_password") or ""
        matches = bool(stored) and await asyncio.to_thread(bcrypt.checkpw, password.encode(), str(stored).encode())
        if user is None or not matches:
            return auth_error(400, "invalid_credentials", "Invalid login credentials")
        if user["email_confirmed_at"] is None:
            return auth_error(400, "email_not_confirmed", "Email not confirmed")
        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
            await conn.execute("update auth.users set last_sign_in_at = now() where id = %s", (user["id"],))
        return ok(self._new_session(user, str(uuid.uuid4())))

    async def _refresh(self, body: dict[str, Any]) -> httpx.Response:
        presented = str(body.get("refresh_token") or "")
        with self._lock:
            token = self.refresh_tokens.get(presented)
            session = self.sessions.get(token.session_id) if token else None
            if token is None or session is None or session.revoked:
                return auth_error(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
            if token.spent:
                session.revoked = True  # reuse detection: someone else holds the newer token
                return auth_error(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
            token.spent = True
        user = await self._find_user(None, session.user_id)
        if user is None:
            return auth_error(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
        return ok(self._new_session(user, session.id))

    async def _sign_up(self, body: dict[str, Any]) -> httpx.Response:
        email, password = str(body.get("email") or "").strip().lower(), str(body.get("password") or "")
        if not _EMAIL.match(email):
            return auth_error(400, "validation_failed", "Unable to validate email address: invalid format")
        if len(password) < 6:
            return auth_error(422, "weak_password", "Password should be at least 6 characters.",
                              weak_password={"reasons": ["length"]})
        if await self._find_user(email) is not None:
            return auth_error(422, "user_already_exists", "User already registered")
        hashed = await asyncio.to_thread(bcrypt.hashpw, password.encode(), bcrypt.gensalt(4, prefix=b"2a"))
        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True) as conn:
            await conn.execute(
                "insert into auth.users (email, encrypted_password, email_confirmed_at, raw_app_meta_data, "
                "raw_user_meta_data) values (%s, %s, case when %s then now() end, "
                "'{\"provider\": \"email\", \"providers\": [\"email\"]}', %s)",
                (email, hashed.decode(), self.autoconfirm, json.dumps(body.get("data") or {})))
        user = await self._find_user(email)
        assert user is not None
        if not self.autoconfirm:
            return ok(_user_json(user))
        return ok(self._new_session(user, str(uuid.uuid4())))

    def _logout(self, request: httpx.Request) -> httpx.Response:
        claims, failure = self._bearer(request)
        if failure is not None:
            return failure
        scope = request.url.params.get("scope", "global")
        with self._lock:
            for session in self.sessions.values():
                mine = session.user_id == claims["sub"]
                this = session.id == claims.get("session_id")
                if mine and (scope == "global" or (scope == "local" and this) or (scope == "others" and not this)):
                    session.revoked = True
        return httpx.Response(204)

    async def _user(self, request: httpx.Request) -> httpx.Response:
        claims, failure = self._bearer(request)
        if failure is not None:
            return failure
        user = await self._find_user(None, str(claims["sub"]))
        if user is None:
            return auth_error(403, "user_not_found", "User from sub claim in JWT does not exist")
        return ok(_user_json(user))

    # Internals --------------------------------------------------------------------------------

    def _bearer(self, request: httpx.Request) -> tuple[dict[str, Any], httpx.Response | None]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return {}, auth_error(401, "no_authorization", "This endpoint requires a valid Bearer token")
        try:
            claims = self.signer.verify(token)
        except TokenRejected as exc:
            return {}, auth_error(403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {exc}")
        if claims.get("role") != "authenticated" or "sub" not in claims:
            return {}, auth_error(403, "bad_jwt", "invalid JWT: not a user's token")
        with self._lock:
            session = self.sessions.get(str(claims.get("session_id")))
            if session is None or session.revoked:
                return {}, auth_error(403, "session_not_found", "Session from session_id claim in JWT does not exist")
        return claims, None

    async def _find_user(self, email: str | None, user_id: str | None = None) -> dict[str, Any] | None:
        async with await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, row_factory=dict_row) as conn:
            return await (await conn.execute(
                "select id::text as id, email, encrypted_password, email_confirmed_at, last_sign_in_at, created_at, "
                "updated_at, raw_app_meta_data, raw_user_meta_data from auth.users "
                "where (%s::text is not null and lower(email) = %s) or id::text = %s",
                (email, email, user_id))).fetchone()

    def _new_session(self, user: dict[str, Any], session_id: str) -> dict[str, Any]:
        now = int(time.time())
        expires_at = now + self.access_token_lifetime
        access = self.signer.issue({
            "iss": self.issuer, "sub": user["id"], "aud": "authenticated", "exp": expires_at, "iat": now,
            "email": user["email"], "phone": "", "role": "authenticated", "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}], "session_id": session_id, "is_anonymous": False,
            "app_metadata": user["raw_app_meta_data"] or {}, "user_metadata": user["raw_user_meta_data"] or {}})
        refresh = secrets.token_urlsafe(16)
        with self._lock:
            self.sessions.setdefault(session_id, AuthSession(session_id, user["id"]))
            self.refresh_tokens[refresh] = RefreshToken(session_id)
        return {"access_token": access, "token_type": "bearer", "expires_in": self.access_token_lifetime,
                "expires_at": expires_at, "refresh_token": refresh, "user": _user_json(user)}


def _body(request: httpx.Request) -> dict[str, Any]:
    try:
        body = json.loads(request.content or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _user_json(user: dict[str, Any]) -> dict[str, Any]:
    def moment(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {"id": user["id"], "aud": "authenticated", "role": "authenticated", "email": user["email"],
            "email_confirmed_at": moment(user["email_confirmed_at"]), "phone": "",
            "confirmed_at": moment(user["email_confirmed_at"]), "last_sign_in_at": moment(user["last_sign_in_at"]),
            "app_metadata": user["raw_app_meta_data"] or {}, "user_metadata": user["raw_user_meta_data"] or {},
            "identities": [], "created_at": moment(user["created_at"]), "updated_at": moment(user["updated_at"]),
            "is_anonymous": False}
