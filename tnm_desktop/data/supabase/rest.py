"""PostgREST requests as the signed-in user, with their answers in domain terms.

Requests are built with the supabase client's PostgREST builders and sent through the builder's
own request (``builder.request.send``) rather than ``execute()``: ``execute()`` folds every
answer into ``APIError`` and drops the HTTP status, which is what tells an expired token (401)
from a gateway outage (5xx) from a refused row (403). An expired token is refreshed once and the
request sent again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx
from postgrest import AsyncPostgrestClient
from postgrest.base_request_builder import RequestConfig
from postgrest.exceptions import APIError
from supabase import AsyncClient

from tnm_desktop.data.supabase.errors import (
    JwtRejected,
    UnexpectedResponse,
    error_body,
    rest_error,
    session_expired,
    signed_out,
    transport_error,
)
from tnm_desktop.data.supabase.session import SessionKeeper
from tnm_desktop.errors import UserError

Row = dict[str, Any]

# Ids per `in.(…)` filter: keeps the URL well under the gateway's limit.
ID_CHUNK = 100


class Sendable(Protocol):
    """Any PostgREST builder: it carries the request it would send."""

    request: RequestConfig[httpx.AsyncClient]


Build = Callable[[AsyncPostgrestClient], Sendable]


class Rest:
    """Sends PostgREST requests with the access token of the current session.

    Args:
        client: The supabase client whose PostgREST builders make the requests.
        keeper: Returns the session keeper to take tokens from (None: signed out).
    """

    def __init__(self, client: AsyncClient, keeper: Callable[[], SessionKeeper | None]) -> None:
        self._client = client
        self._keeper = keeper

    async def send(self, build: Build, *, missing: str = "Not found.") -> httpx.Response:
        """Send the request ``build`` makes; return the successful answer or raise a taxonomy error."""
        keeper = self._keeper()
        if keeper is None:
            raise signed_out()
        token = await keeper.fresh_token()
        for attempt in (1, 2):
            rest = self._client.postgrest
            rest.auth(token)
            request = build(rest).request
            try:
                response = await request.send(httpx.Headers())
            except httpx.TransportError as exc:
                raise transport_error(exc) from exc
            if response.is_success:
                return response
            original = APIError(error_body(response.content) or {"message": response.reason_phrase,
                                                                  "code": str(response.status_code)})
            if response.status_code == 406 and original.code == "PGRST116":
                raise UserError(missing, code="not_found") from original
            error = rest_error(response.status_code, response.content)
            if isinstance(error, JwtRejected):
                if attempt == 1:
                    token = await keeper.refreshed(token)
                    continue
                raise session_expired() from original
            raise error from original
        raise AssertionError("unreachable")

    async def value(self, build: Build, *, missing: str = "Not found.") -> Any:
        """The decoded JSON answer (None for an empty one)."""
        response = await self.send(build, missing=missing)
        if not response.content:
            return None
        try:
            return json.loads(response.content)
        except ValueError as exc:
            raise UnexpectedResponse(response.status_code, None, "the answer is not JSON") from exc

    async def rows(self, build: Build) -> list[Row]:
        """An array answer."""
        data = await self.value(build)
        if not isinstance(data, list):
            raise UnexpectedResponse(200, None, f"expected an array, got {type(data).__name__}")
        return [dict(r) for r in data]

    async def first(self, build: Build) -> Row | None:
        """The first row of an array answer, if any."""
        found = await self.rows(build)
        return found[0] if found else None

    async def one(self, build: Build, *, missing: str = "Not found.") -> Row:
        """The row of an array answer, or UserError(not_found) when it is empty."""
        found = await self.first(build)
        if found is None:
            raise UserError(missing, code="not_found")
        return found

    async def single(self, build: Build, *, missing: str = "Not found.") -> Row:
        """A singular answer (``Accept: application/vnd.pgrst.object+json``)."""
        data = await self.value(build, missing=missing)
        if not isinstance(data, dict):
            raise UnexpectedResponse(200, None, f"expected an object, got {type(data).__name__}")
        return data

    async def by_ids(self, table: str, ids: Sequence[str], columns: str = "*") -> list[Row]:
        """Rows of ``table`` by id, in chunks (only those the user may see)."""
        found: list[Row] = []
        for start in range(0, len(ids), ID_CHUNK):
            chunk = list(ids[start:start + ID_CHUNK])

            def build(r: AsyncPostgrestClient, chunk: list[str] = chunk) -> Sendable:
                return r.from_(table).select(columns).in_("id", chunk)

            found.extend(await self.rows(build))
        return found
