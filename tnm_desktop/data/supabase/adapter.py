"""The Supabase adapter: the data port over a Supabase project with the ``supabase`` async client.

Auth is Supabase Auth (email and password); every table read and write goes through PostgREST as
the signed-in user, so the project's RLS decides what is seen; the SQL functions are called as
RPC; live updates come from Realtime. Errors are translated at this boundary (see ``errors``).

Sessions. The auth client keeps its session in a :class:`KeyringStorage`: in memory, written
through to the OS keyring only with "remember me". The auth client's own refresh timer is off: a
:class:`SessionKeeper` refreshes instead, so exactly one party ever spends the refresh token.

The agent's adapter. ``spawn()`` returns a factory the agent thread runs on its own loop. The
adapter it builds has its own HTTP client, PostgREST builders and realtime socket, but no session
of its own: it borrows this adapter's keeper, reading the current access token (thread-safe) and
handing refreshes back to this adapter's loop. Two clients refreshing one session would get it
revoked by Supabase's refresh-token reuse detection; this way there is one refresher. A spawned
adapter that signs in itself gets a session of its own (never remembered).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

import httpx
from pydantic import ValidationError
from supabase import AsyncClient, AsyncClientOptions
from supabase_auth.constants import STORAGE_KEY
from supabase_auth.errors import AuthError
from supabase_auth.helpers import decode_jwt
from supabase_auth.types import Session as AuthSession

from tnm_desktop.data.live import ChangeFeed
from tnm_desktop.data.port import ChangeCallback, DataPort, StateCallback, Subscription, Table
from tnm_desktop.data.supabase.activity import ActivityQueries
from tnm_desktop.data.supabase.agent_calls import AgentCalls
from tnm_desktop.data.supabase.desk import DeskQueries
from tnm_desktop.data.supabase.errors import auth_error, ends_session, offline, signed_out, transport_error
from tnm_desktop.data.supabase.live import RealtimeSubscription
from tnm_desktop.data.supabase.orders import OrderCalls
from tnm_desktop.data.supabase.queries import AccountQueries
from tnm_desktop.data.supabase.rest import Rest
from tnm_desktop.data.supabase.session import SessionKeeper
from tnm_desktop.data.supabase.storage import KeyringStorage
from tnm_desktop.domain import Session
from tnm_desktop.errors import UserError
from tnm_desktop.profiles import check_anon_key

log = logging.getLogger(__name__)

AdapterFactory = Callable[[], Awaitable[DataPort]]
ClientFactory = Callable[[], httpx.AsyncClient]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def default_http_client() -> httpx.AsyncClient:
    """The HTTP client of a production adapter: short connect timeout, so "offline" shows quickly."""
    return httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0), follow_redirects=True)


@dataclass(frozen=True)
class LiveOptions:
    """How live updates behave.

    Attributes:
        poll_interval: Seconds between polls of ``changes_since`` while the socket is down.
        backoff: First and longest pause between reconnect attempts, in seconds.
    """

    poll_interval: float = 5.0
    backoff: tuple[float, float] = (0.5, 30.0)


class SupabaseAdapter(DeskQueries, AccountQueries, ActivityQueries, AgentCalls, OrderCalls):
    """The data port for a Supabase project.

    Args:
        url: The project URL (``https://<ref>.supabase.co``).
        anon_key: The project's anon or publishable key. A service_role or secret key is refused.
        session_key: Keyring entry of this profile's remembered session.
        httpx_client: The HTTP client for auth and PostgREST (the caller closes it); default: own one.
        httpx_client_factory: Makes the HTTP clients of this adapter (when ``httpx_client`` is None)
            and of spawned adapters, each on its own loop.
        live: Polling and reconnect timings.

    Raises:
        UserError: The key is a service_role / secret key or not a Supabase API key.
    """

    def __init__(self, url: str, anon_key: str, session_key: str, *, httpx_client: httpx.AsyncClient | None = None,
                 httpx_client_factory: ClientFactory | None = None, live: LiveOptions | None = None) -> None:
        check_anon_key(anon_key)  # a service_role key would bypass every RLS policy on this desktop
        self._url = url.rstrip("/")
        self._anon_key = anon_key.strip()
        self._session_key = session_key
        self._factory = httpx_client_factory or default_http_client
        self._owns_http = httpx_client is None
        self._http = httpx_client or self._factory()
        self._live = live or LiveOptions()
        self._storage = KeyringStorage(session_key)
        self._client = AsyncClient(self._url, self._anon_key, AsyncClientOptions(
            storage=self._storage, httpx_client=self._http, auto_refresh_token=False, persist_session=True,
            flow_type="implicit", postgrest_client_retry=False,  # retries are the caller's, with backoff
            realtime={"auto_reconnect": False, "max_retries": 1}))
        self._keeper = SessionKeeper(self._client.auth, self._storage)
        self._borrowed: SessionKeeper | None = None
        self._spawned = False
        self._rest = Rest(self._client, self._tokens)
        self._subscriptions: list[RealtimeSubscription] = []

    def __repr__(self) -> str:
        return f"SupabaseAdapter(url={self._url!r}, session={self.session!r})"

    # Auth -------------------------------------------------------------------------------------

    @property
    def session(self) -> Session | None:
        """Who is signed in."""
        keeper = self._tokens()
        return keeper.session if keeper else None

    async def sign_in(self, email: str, password: str, *, remember: bool = False) -> Session:
        """Sign in with email and password; with ``remember`` the session is kept in the keyring."""
        self._prepare_sign_in(remember)
        try:
            await self._client.auth.sign_in_with_password({"email": email.strip(), "password": password})
        except AuthError as exc:
            raise auth_error(exc, signing_in=True) from exc
        return await self._signed_in(remember)

    async def sign_up(self, email: str, password: str, *, remember: bool = False) -> Session:
        """Create an account and sign in to it."""
        email = email.strip()
        if not _EMAIL.match(email):
            raise UserError("Enter a valid email address.", code="invalid_email")
        if len(password) < 8:
            raise UserError("Use a password of at least 8 characters.", code="weak_password")
        self._prepare_sign_in(remember)
        try:
            response = await self._client.auth.sign_up({"email": email, "password": password})
        except AuthError as exc:
            raise auth_error(exc, signing_in=True) from exc
        if response.session is None:  # the project confirms emails before the first sign-in
            raise UserError(f"Check {email} for a confirmation link from Supabase, open it, then sign in.",
                            code="confirm_email")
        return await self._signed_in(remember)

    async def restore_session(self) -> Session | None:
        """Sign in silently from the remembered session, refreshing it if it expired.

        Returns None when nothing is remembered or the session is over (its entry is deleted).

        Raises:
            TransientError: Supabase cannot be reached; the remembered session is kept for later.
        """
        if self._spawned:  # the lender restores; a spawned adapter never touches the keyring
            return self.session
        self._storage.persistent = True
        raw = await self._storage.get_item(STORAGE_KEY)
        if raw is None:
            return None
        try:
            saved = AuthSession.model_validate_json(raw)
        except ValidationError:
            log.warning("the remembered session is unreadable; forgetting it")
            await self._storage.forget()
            return None
        try:
            await self._client.auth.set_session(saved.access_token, saved.refresh_token)
        except AuthError as exc:
            error = auth_error(exc)
            if not ends_session(error):
                raise error from exc
            if _expired(saved.access_token) or not await self._refresh_remembered(saved.refresh_token):
                log.info("the remembered session is over (%s)", exc.message)
                await self._keeper.forget()
                return None
        return self._keeper.session

    async def sign_out(self) -> None:
        """Sign out (server-side too) and forget the remembered session."""
        await self._close_subscriptions()
        if self._borrowed is not None:  # the session belongs to the adapter that lent it
            self._borrowed = None
            return
        await self._keeper.sign_out()

    def spawn(self) -> AdapterFactory:
        """Return a factory that builds, inside another thread's loop, an adapter for this user."""
        url, key, entry, factory, live = self._url, self._anon_key, self._session_key, self._factory, self._live
        keeper = self._borrowed or self._keeper

        async def build() -> DataPort:
            # Its own keyring entry: whatever it does, the lender's remembered session stays.
            adapter = SupabaseAdapter(url, key, f"{entry}:agent", httpx_client_factory=factory, live=live)
            adapter._spawned = True
            adapter._borrowed = keeper
            return adapter

        return build

    async def ping(self) -> None:
        """Raise TransientError when Supabase cannot be reached."""
        try:
            response = await self._http.get(f"{self._url}/auth/v1/health", headers={"apikey": self._anon_key})
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        if response.status_code >= 500:
            raise offline()

    async def close(self) -> None:
        """Close subscriptions and connections (the session stays remembered if it was)."""
        await self._close_subscriptions()
        self._keeper.close()
        if self._client.realtime.is_connected:
            await self._client.realtime.close()
        if self._owns_http:
            await self._http.aclose()

    # Live updates -----------------------------------------------------------------------------

    async def subscribe(self, tables: Collection[Table], on_change: ChangeCallback,
                        on_state: StateCallback | None = None, *, rows: bool = True) -> Subscription:
        """Receive the user's changes through Realtime (polling while the socket is down)."""
        keeper = self._tokens()
        if keeper is None or keeper.session is None:
            raise signed_out()
        feed = ChangeFeed(tables, self._fetch_rows, self._changes_since, on_change, on_state,
                          poll_interval=self._live.poll_interval, rows=rows)
        subscription = RealtimeSubscription(self._client.realtime, keeper, keeper.session.user_id, feed,
                                            backoff=self._live.backoff)
        await subscription.start()
        self._subscriptions.append(subscription)
        return subscription

    async def subscribe_waiting_jobs(self, on_change: ChangeCallback,
                                     on_state: StateCallback | None = None) -> Subscription:
        """Every change of the user's jobs: Realtime announces a table's changes, not a state's."""
        return await self.subscribe([Table.JOBS], on_change, on_state, rows=False)

    # Internals --------------------------------------------------------------------------------

    def _tokens(self) -> SessionKeeper | None:
        keeper = self._borrowed or self._keeper
        return keeper if keeper.session is not None else None

    def _user_id(self) -> str:
        session = self.session
        if session is None:
            raise signed_out()
        return session.user_id

    def _prepare_sign_in(self, remember: bool) -> None:
        self._storage.persistent = remember and not self._spawned

    async def _signed_in(self, remember: bool) -> Session:
        self._borrowed = None  # a spawned adapter that signs in uses a session of its own from now on
        if not remember and not self._spawned:
            await self._storage.forget_remembered()  # "don't remember me" replaces an earlier "remember me"
        session = self._keeper.session
        assert session is not None, "the auth client signed in without a session event"
        return session

    async def _refresh_remembered(self, refresh_token: str) -> bool:
        # The server refused a token this machine's clock thinks valid (a revoked session, or a
        # clock that is wrong): the refresh token decides whether the session lives on.
        try:
            await self._client.auth.refresh_session(refresh_token)
        except AuthError as exc:
            error = auth_error(exc)
            if ends_session(error):
                return False
            raise error from exc
        return True

    async def _close_subscriptions(self) -> None:
        while self._subscriptions:
            await self._subscriptions.pop().close()


def _expired(access_token: str) -> bool:
    try:
        expires = decode_jwt(access_token)["payload"].get("exp")
    except AuthError:
        return True
    return expires is None or float(expires) <= time.time()
