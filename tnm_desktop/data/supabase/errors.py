"""Supabase's answers in the words of :mod:`tnm_desktop.errors`.

PostgREST puts the SQLSTATE (or a ``PGRST…`` code of its own) in ``code`` and answers with the HTTP
status of its error table; Supabase Auth answers with an ``error_code``; the gateway in front of
both answers 5xx when a service is down. Everything the adapter raises is built here, and the
adapter raises it ``from`` the original error.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from supabase_auth.errors import AuthApiError, AuthError, AuthRetryableError, AuthUnknownError

from tnm_desktop.data.errors import translate
from tnm_desktop.errors import OperationalError, TransientError, UserError

OFFLINE = "Supabase cannot be reached right now. Check the internet connection; TNM keeps trying."
SLOW = "Supabase took too long to answer. Trying again may help."
SESSION_EXPIRED = "Your session has expired. Please sign in again."
SIGNED_OUT = "Sign in first."
BAD_SIGN_IN = "Wrong email or password."  # the local adapter says the same
SCHEMA_MISSING = ("This Supabase project is missing part of the TNM database. Apply the migrations in sql/ "
                  "to the project (Supabase CLI or SQL editor), then try again.")

# PostgREST's JWT errors (PGRST303 is "JWT expired" from v12.2 on; PGRST301 before).
_JWT_CODES = frozenset({"PGRST301", "PGRST302", "PGRST303"})
# Auth error codes meaning the session is over: only signing in again helps.
_DEAD_SESSION = frozenset({"refresh_token_not_found", "refresh_token_already_used", "session_not_found",
                           "session_expired", "bad_jwt", "user_not_found", "no_authorization",
                           "invalid_jwt"})


class JwtRejected(Exception):
    """The access token was refused (expired or revoked): refresh it and try once more."""


class UnexpectedResponse(Exception):
    """An answer the adapter does not expect: a bug, or a project set up differently. Not translated."""

    def __init__(self, status: int, code: str | None, message: str, details: Any = None) -> None:
        super().__init__(f"HTTP {status} {code or ''}: {message}" + (f" ({details})" if details else ""))
        self.status = status
        self.code = code
        self.details = details


def offline() -> TransientError:
    """The error for an unreachable Supabase."""
    return TransientError(OFFLINE, code="offline")


def session_expired() -> UserError:
    """The error for a session only a new sign-in can replace."""
    return UserError(SESSION_EXPIRED, code="session_expired")


def signed_out() -> UserError:
    """The error for a call made before signing in."""
    return UserError(SIGNED_OUT, code="signed_out")


def transport_error(exc: httpx.TransportError) -> TransientError:
    """A request that got no answer: no network, DNS, refused connection, reset, timeout."""
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(SLOW, code="timeout")
    return offline()


def error_body(body: bytes) -> dict[str, Any]:
    """PostgREST's ``{code, details, hint, message}`` (empty when the body is something else)."""
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def rest_error(status: int, body: bytes) -> Exception:
    """Translate a PostgREST (or gateway) error answer."""
    data = error_body(body)
    code = data.get("code") if isinstance(data.get("code"), str) else None
    message = str(data.get("message") or data.get("msg") or "")
    if status == 401 and (code in _JWT_CODES or (code is None and "api key" not in message.lower())):
        return JwtRejected(message or "JWT rejected")
    if "api key" in message.lower() and status in (401, 403):
        return OperationalError("This Supabase project did not accept its API key. Check the anon key in "
                                "the connection profile.", code="bad_key")
    if code is not None and code.startswith("PGRST0"):
        return offline()  # PostgREST cannot reach the database (or its pool timed out)
    if code in ("PGRST202", "PGRST204", "PGRST205", "42P01", "42883"):
        return OperationalError(SCHEMA_MISSING, code="schema_missing")
    if code is not None and not code.startswith("PGRST"):
        translated = translate(code, message, None)
        if translated is not None:
            return translated
    if status >= 500 and (code is None or status in (502, 503, 504)):
        return offline()  # the gateway: a service is down or restarting
    return UnexpectedResponse(status, code, message, data.get("details"))


def auth_error(exc: AuthError, *, signing_in: bool = False) -> Exception:
    """Translate a Supabase Auth failure."""
    if isinstance(exc, AuthRetryableError | AuthUnknownError):
        return offline()
    code = exc.code or ""
    status = getattr(exc, "status", 0)
    if code == "invalid_credentials" or (signing_in and code == "" and status == 400):
        return UserError(BAD_SIGN_IN, code="wrong_password")
    if code == "email_not_confirmed":
        return UserError("Confirm your email address first: open the link Supabase sent you, then sign in.",
                         code="email_not_confirmed")
    if code in ("user_already_exists", "email_exists"):
        return UserError("An account with this email already exists.", code="duplicate")
    if code == "weak_password":
        return UserError(f"Choose a stronger password. {exc.message}".strip(), code="weak_password")
    if code in ("validation_failed", "email_address_invalid"):
        return UserError("Enter a valid email address.", code="invalid_email")
    if code == "user_banned":
        return UserError("This account is locked.", code="locked")
    if code == "signup_disabled":
        return UserError("This Supabase project does not allow new sign-ups.", code="signup_disabled")
    if code.startswith("over_") or status == 429:
        return UserError("Too many attempts. Wait a minute, then try again.", code="rate_limited")
    if code in _DEAD_SESSION or (not signing_in and status in (401, 403)):
        return session_expired()
    if isinstance(exc, AuthApiError) and status >= 500:
        return offline()
    return OperationalError(f"Supabase Auth refused the request: {exc.message}", code="auth_error")


def ends_session(error: Exception) -> bool:
    """Whether a translated error means the session is over."""
    return isinstance(error, UserError) and error.code == "session_expired"
