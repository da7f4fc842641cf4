"""The signed-in session, shared safely with the agent's thread.

Supabase rotates refresh tokens: a refresh spends the token and returns a new one, and a token
presented twice makes Supabase Auth revoke the whole session (reuse detection). So two clients
must never refresh one session each on their own — yet the GUI and the MT5 agent (its own thread,
its own event loop, its own client) act as the same signed-in user.

The adapter that signed in owns a :class:`SessionKeeper`, the only place the session's refresh
token is ever spent:

* it holds the current tokens behind a ``threading.Lock``, so any thread may read them;
* refreshes run on the owner's event loop, one at a time; an adapter on another loop (the one
  ``spawn()`` builds for the agent) hands its refresh over with ``run_coroutine_threadsafe`` and
  awaits the result;
* a refresh asked for with a token that is no longer current returns the current one instead of
  spending the refresh token again, so requests failing together with one expired token cause
  one refresh;
* it refreshes ahead of expiry itself (the auth client's own timer is off so it cannot race);
* watchers on any loop hear of every new access token (each realtime socket needs it).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from supabase_auth import AsyncGoTrueClient
from supabase_auth.errors import AuthError
from supabase_auth.types import AuthChangeEvent
from supabase_auth.types import Session as AuthSession

from tnm_desktop.data.supabase.errors import SLOW, auth_error, ends_session, session_expired, signed_out
from tnm_desktop.data.supabase.storage import KeyringStorage
from tnm_desktop.domain import Session
from tnm_desktop.errors import TnmError, TransientError

log = logging.getLogger(__name__)

TokenWatcher = Callable[[str | None], None]

# A token this close to its expiry is refreshed before use rather than sent to fail.
_SLACK = 10.0
# How long a borrowing thread waits for the owner's loop to refresh.
_HANDOVER_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class _Tokens:
    access: str = field(repr=False)
    refresh: str = field(repr=False)
    expires_at: float
    lifetime: float
    session: Session


class SessionKeeper:
    """Holds one auth client's session and is the only one to refresh it.

    Args:
        auth: The auth client of the adapter that signs in (its auto-refresh must be off).
        storage: That client's session storage.
        refresh_margin: Refresh this many seconds before expiry (at most a quarter of the lifetime).
    """

    def __init__(self, auth: AsyncGoTrueClient, storage: KeyringStorage, *, refresh_margin: float = 60.0) -> None:
        self._auth = auth
        self._storage = storage
        self._margin = refresh_margin
        self._guard = threading.Lock()
        self._tokens: _Tokens | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refreshing: asyncio.Lock | None = None
        self._timer: asyncio.Task[None] | None = None
        self._watchers: dict[int, tuple[asyncio.AbstractEventLoop, TokenWatcher]] = {}
        self._ids = itertools.count()
        self._closed = False
        auth.on_auth_state_change(self._on_auth_event)

    def __repr__(self) -> str:
        return f"SessionKeeper(session={self.session!r})"

    # Reading, from any thread ------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        """Who is signed in."""
        with self._guard:
            return self._tokens.session if self._tokens else None

    def access_token(self) -> str | None:
        """The current access token, as it is."""
        with self._guard:
            return self._tokens.access if self._tokens else None

    def watch(self, watcher: TokenWatcher) -> Callable[[], None]:
        """Call ``watcher`` on the running loop with each new access token (None: signed out)."""
        key = next(self._ids)
        with self._guard:
            self._watchers[key] = (asyncio.get_running_loop(), watcher)

        def unwatch() -> None:
            with self._guard:
                self._watchers.pop(key, None)

        return unwatch

    # Tokens for a request, from any loop ------------------------------------------------------

    async def fresh_token(self) -> str:
        """The access token, refreshed first when it is about to expire."""
        with self._guard:
            tokens = self._tokens
        if tokens is None:
            raise signed_out()
        if tokens.expires_at - time.time() > _SLACK:
            return tokens.access
        return await self.refreshed(tokens.access)

    async def refreshed(self, stale: str) -> str:
        """A new access token replacing ``stale`` (the refresh token is spent at most once for it)."""
        owner = self._loop
        if owner is None or self._closed:
            raise session_expired()
        if asyncio.get_running_loop() is owner:
            return await self._refresh(stale)
        try:
            handed = asyncio.run_coroutine_threadsafe(self._refresh(stale), owner)
        except RuntimeError as exc:  # the owner's loop is closed: the app is shutting down
            raise session_expired() from exc
        try:
            async with asyncio.timeout(_HANDOVER_TIMEOUT):
                return await asyncio.wrap_future(handed)
        except TimeoutError as exc:
            handed.cancel()
            raise TransientError(SLOW, code="timeout") from exc

    # The owner's side ---------------------------------------------------------------------------

    async def _refresh(self, stale: str) -> str:
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:
            with self._guard:
                tokens = self._tokens
            if tokens is None:
                raise session_expired()
            if tokens.access != stale:
                return tokens.access  # someone else refreshed meanwhile
            try:
                response = await self._auth.refresh_session(tokens.refresh)
            except AuthError as exc:
                error = auth_error(exc)
                if ends_session(error):
                    log.info("the session cannot be refreshed any more (%s)", exc.code or exc.message)
                    await self.forget()
                raise error from exc
            if response.session is None:
                raise session_expired()
            return response.session.access_token

    async def sign_out(self) -> None:
        """Revoke this session on the server (best effort) and forget it here and in the keyring."""
        if self._refreshing is None:
            self._refreshing = asyncio.Lock()
        async with self._refreshing:  # no refresh may spend the token while signing out
            try:
                with self._guard:
                    tokens = self._tokens
                if tokens is not None and tokens.expires_at - time.time() <= _SLACK:
                    await self._auth.refresh_session(tokens.refresh)
                await self._auth.sign_out({"scope": "local"})
            except AuthError as exc:  # offline or already revoked: signed out here all the same
                log.info("signing out on the server failed: %s", exc.message)
        await self.forget()

    async def forget(self) -> None:
        """Drop the session without telling the server (it is dead, or the app is signing out)."""
        self._set(None)
        await self._storage.forget()

    def close(self) -> None:
        """Stop refreshing; adapters borrowing this session can no longer refresh it."""
        self._closed = True
        self._cancel_timer()

    def _on_auth_event(self, event: AuthChangeEvent, session: AuthSession | None) -> None:
        if session is None or event == "SIGNED_OUT":
            self._set(None)
            return
        expires_at = float(session.expires_at or time.time() + session.expires_in)
        user = session.user
        tokens = _Tokens(session.access_token, session.refresh_token, expires_at, float(session.expires_in),
                         Session(user.id, user.email or "", "supabase"))
        self._loop = asyncio.get_running_loop()  # events arrive inside the owner's auth calls
        self._closed = False
        self._set(tokens)
        self._schedule(tokens)

    def _set(self, tokens: _Tokens | None) -> None:
        with self._guard:
            self._tokens = tokens
            watchers = list(self._watchers.items())
        if tokens is None:
            self._cancel_timer()
        for key, (loop, watcher) in watchers:
            try:
                loop.call_soon_threadsafe(watcher, tokens.access if tokens else None)
            except RuntimeError:  # that loop is gone
                with self._guard:
                    self._watchers.pop(key, None)

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        # The timer's own refresh ends here through the TOKEN_REFRESHED event: don't cancel it.
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    def _schedule(self, tokens: _Tokens) -> None:
        self._cancel_timer()
        margin = max(min(self._margin, tokens.lifetime / 4), 0.5)
        delay = max(tokens.expires_at - margin - time.time(), 0.0)
        self._timer = asyncio.get_running_loop().create_task(self._refresh_ahead(tokens.access, delay),
                                                             name="supabase-refresh-ahead")

    async def _refresh_ahead(self, access: str, delay: float) -> None:
        await asyncio.sleep(delay)
        pause = 1.0
        while True:
            try:
                await self._refresh(access)
                return
            except TransientError as exc:
                log.info("refreshing the session ahead of expiry failed (%s); retrying", exc)
            except TnmError as exc:
                log.info("the session ended: %s", exc)
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)
