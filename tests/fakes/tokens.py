"""The project's JWT secret: API keys and access tokens as Supabase signs them (HS256).

Shared by the fake Auth, PostgREST and Realtime so that a token one issues the others accept,
and so that a token the test declares expired is refused by all three.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

PROJECT_REF = "fakeproject"


class TokenRejected(Exception):
    """A token that is malformed, badly signed or expired.

    Attributes:
        expired: Whether the only problem is its age.
    """

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass
class Signer:
    """Signs and verifies the project's JWTs; knows its API keys."""

    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    _expired: set[str] = field(default_factory=set, repr=False)
    _issued: list[str] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        now = int(time.time())
        self.anon_key = self._key("anon", now)
        self.service_key = self._key("service_role", now)
        self.publishable_key = "sb_publishable_" + secrets.token_urlsafe(24)
        self.secret_key = "sb_secret_" + secrets.token_urlsafe(24)

    def _key(self, role: str, now: int) -> str:
        return jwt.encode({"iss": "supabase", "ref": PROJECT_REF, "role": role, "iat": now,
                           "exp": now + 10 * 365 * 86400}, self.secret, algorithm="HS256")

    def api_key_role(self, key: str) -> str | None:
        """The role an API key grants, or None when it is not one of the project's."""
        return {self.anon_key: "anon", self.publishable_key: "anon", self.service_key: "service_role",
                self.secret_key: "service_role"}.get(key)

    def issue(self, claims: dict[str, Any]) -> str:
        """Sign an access token (unique even when issued twice within one second)."""
        token = jwt.encode({**claims, "jti": secrets.token_hex(8)}, self.secret, algorithm="HS256")
        with self._lock:
            self._issued.append(token)
        return token

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; raise TokenRejected otherwise."""
        if token in (self.publishable_key,):
            return {"role": "anon"}
        try:
            claims: dict[str, Any] = jwt.decode(token, self.secret, algorithms=["HS256"],
                                                options={"verify_aud": False})
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("JWT expired", expired=True) from exc
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"JWSError ({exc})") from exc
        with self._lock:
            if token in self._expired:
                raise TokenRejected("JWT expired", expired=True)
        return claims

    def expire_issued(self) -> int:
        """Treat every access token issued so far as expired (as after a long sleep); return how many."""
        with self._lock:
            self._expired.update(self._issued)
            return len(self._issued)
