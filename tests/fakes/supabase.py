"""Supabase's HTTP side as an ``httpx`` transport: the API gateway, Auth and PostgREST.

Give the adapter ``httpx.AsyncClient(transport=FakeSupabase(...))``: nothing leaves the process,
every request is checked as the real servers would check it (the gateway's ``apikey``, the
bearer token, the PostgREST grammar, the JSON body) and answered from the real test database.
Every request is recorded for assertions, and failures can be injected: no network, a gateway
outage, access tokens expiring early.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.fakes.gotrue import FakeAuth
from tests.fakes.postgrest import FakePostgrest, json_response
from tests.fakes.tokens import Signer
from tests.pg import Db

Failure = Callable[[httpx.Request], httpx.Response]


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it, and the status it answered."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any
    status: int | None

    def param(self, name: str) -> str | None:
        """A query parameter's (first) value."""
        return next((v for k, v in self.query if k == name), None)


class FakeSupabase(httpx.AsyncBaseTransport):
    """A Supabase project's HTTP API over one test database.

    Args:
        db: The test database (its ``authenticator`` and ``supabase_auth_admin`` roles are used).
        url: The project URL the adapter is given (only its host matters here).
    """

    def __init__(self, db: Db, url: str = "http://127.0.0.1:54321") -> None:
        self.url = url.rstrip("/")
        self.signer = Signer()
        self.auth = FakeAuth(db.cluster.conninfo(user="supabase_auth_admin", dbname=db.name), self.signer,
                             f"{self.url}/auth/v1")
        self.rest = FakePostgrest(db.cluster.conninfo(user="authenticator", dbname=db.name), self.signer)
        self.requests: list[Recorded] = []
        self._failures: deque[Failure] = deque()
        self._lock = threading.Lock()
        self.offline = False

    @property
    def anon_key(self) -> str:
        """The project's anon key."""
        return self.signer.anon_key

    def client(self) -> httpx.AsyncClient:
        """An HTTP client whose requests reach this fake."""
        return httpx.AsyncClient(transport=self)

    # Failure injection ----------------------------------------------------------------------------

    def fail_next(self, count: int = 1, error: type[httpx.TransportError] = httpx.ConnectError) -> None:
        """Make the next ``count`` requests fail without an answer (no network, reset, timeout)."""
        def fail(request: httpx.Request) -> httpx.Response:
            raise error("[Errno 111] Connection refused (injected)", request=request)

        with self._lock:
            self._failures.extend([fail] * count)

    def answer_next(self, status: int, body: str = "", count: int = 1) -> None:
        """Make the gateway answer the next ``count`` requests itself (e.g. 503 while a service restarts)."""
        def answer(request: httpx.Request) -> httpx.Response:
            return httpx.Response(status, headers={"content-type": "text/html"}, content=body.encode())

        with self._lock:
            self._failures.extend([answer] * count)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now expired (as after a night with the laptop closed)."""
        self.signer.expire_issued()

    def of(self, method: str, path: str) -> list[Recorded]:
        """The recorded requests with this method and path."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # The transport --------------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check and answer one request."""
        await request.aread()
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        try:
            if self.offline:
                raise httpx.ConnectError("[Errno 101] Network is unreachable (injected)", request=request)
            response = failure(request) if failure else await self._route(request)
        except httpx.TransportError:
            self._record(request, None)
            raise
        self._record(request, response.status_code)
        return response

    async def _route(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("apikey") or request.url.params.get("apikey")
        if not key:
            return json_response(401, {"message": "No API key found in request",
                                       "hint": "No `apikey` request header or url param was found."})
        if self.signer.api_key_role(key) is None:
            return json_response(401, {"message": "Invalid API key",
                                       "hint": "Double check your Supabase `anon` or `service_role` API key."})
        path = request.url.path
        if path.startswith("/rest/v1"):
            return await self.rest.handle(request, path.removeprefix("/rest/v1"))
        if path.startswith("/auth/v1"):
            return await self.auth.handle(request, path.removeprefix("/auth/v1"))
        return json_response(404, {"message": "no Route matched with those values"})

    def _record(self, request: httpx.Request, status: int | None) -> None:
        try:
            body = json.loads(request.content) if request.content else None
        except ValueError:
            body = request.content.decode(errors="replace")
        recorded = Recorded(request.method, request.url.path, list(request.url.params.multi_items()),
                            {k.lower(): v for k, v in request.headers.items()}, body, status)
        with self._lock:
            self.requests.append(recorded)
