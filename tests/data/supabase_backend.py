"""The Supabase backend of the data-port contract suite.

The adapter runs unchanged: its HTTP requests go through :class:`~tests.fakes.supabase.FakeSupabase`
(Auth and PostgREST over the same real test database as the local backend) and its realtime
socket to :class:`~tests.fakes.realtime.FakeRealtime` on a loopback port.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from tnm_desktop.data.port import DataPort
from tnm_desktop.data.supabase import LiveOptions, SupabaseAdapter

from tests.data.backends import Backend
from tests.fakes.realtime import FakeRealtime
from tests.fakes.supabase import FakeSupabase
from tests.pg import Db

# Quick reconnects and polls: the contract tests wait on them.
FAST_LIVE = LiveOptions(poll_interval=0.5, backoff=(0.1, 1.0))


@dataclass
class SupabaseProject:
    """A fake Supabase project over one test database: HTTP through a transport, Realtime on a port."""

    db: Db
    realtime: FakeRealtime = field(init=False)
    http: FakeSupabase = field(init=False)
    _clients: list[httpx.AsyncClient] = field(default_factory=list)
    started: bool = False

    def __post_init__(self) -> None:
        self.http = FakeSupabase(self.db)
        self.realtime = FakeRealtime(self.db, self.http.signer)

    @property
    def url(self) -> str:
        """The project URL the adapter is given."""
        return self.realtime.url

    async def start(self) -> None:
        """Start the Realtime socket (idempotent)."""
        if not self.started:
            await self.realtime.start()
            self.http.url = self.url
            self.started = True

    def client(self) -> httpx.AsyncClient:
        """An HTTP client into the fake (closed with the project)."""
        client = self.http.client()
        self._clients.append(client)
        return client

    async def adapter(self, session_key: str = "session:test", *, key: str | None = None,
                      live: LiveOptions = FAST_LIVE) -> SupabaseAdapter:
        """A signed-out adapter for this project."""
        await self.start()
        return SupabaseAdapter(self.url, key or self.http.anon_key, session_key, httpx_client=self.client(),
                               httpx_client_factory=self.http.client, live=live)

    async def close(self) -> None:
        """Stop Realtime and close the HTTP clients."""
        await self.realtime.stop()
        while self._clients:
            await self._clients.pop().aclose()


@dataclass
class SupabaseBackend(Backend):
    """The contract suite's backend for the Supabase adapter."""

    project: SupabaseProject | None = None

    async def close(self) -> None:
        """Close the adapters, then the fake project."""
        await super().close()
        if self.project is not None:
            await self.project.close()


def supabase_backend(db: Db) -> Backend:
    """Adapters over the Supabase code path, talking to a fake project over the test database."""
    project = SupabaseProject(db)

    async def make(session_key: str) -> DataPort:
        return await project.adapter(session_key)

    async def drop_live() -> None:
        await project.realtime.drop_all()

    return SupabaseBackend("supabase", db, make, drop_live, project=project)
