"""The backends the data-port contract suite runs against.

Each one gives adapters over the same real test database, so what the suite asserts about one
adapter it asserts about the other. The Supabase backend lives with the Supabase adapter's tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tnm_desktop.data.local.adapter import LocalAdapter
from tnm_desktop.data.port import DataPort

from tests.pg import Db, User


@dataclass
class Backend:
    """Makes adapters for one kind of backend, over a test database."""

    name: str
    db: Db
    make: Callable[[str], Awaitable[DataPort]]  # session key → a fresh, signed-out adapter
    # Breaks every live-update channel (the server side of the push connection goes away).
    drop_live: Callable[[], Awaitable[None]]
    opened: list[DataPort] = field(default_factory=list)

    async def drop_live_connections(self) -> None:
        """Break the push channel of every live subscription."""
        await self.drop_live()

    async def adapter(self, session_key: str = "session:test") -> DataPort:
        """A fresh adapter, signed out."""
        port = await self.make(session_key)
        self.opened.append(port)
        return port

    async def signed_in(self, user: User, *, remember: bool = False,
                        session_key: str | None = None) -> DataPort:
        """An adapter signed in as ``user`` with their password."""
        port = await self.adapter(session_key or f"session:{user.email}")
        await port.sign_in(user.email, user.password, remember=remember)
        return port

    async def close(self) -> None:
        """Close every adapter made."""
        while self.opened:
            await self.opened.pop().close()


def local_backend(db: Db) -> Backend:
    """Adapters over the local workspace code path."""
    conninfo = db.cluster.conninfo(user="authenticator", dbname=db.name)
    auth = db.cluster.conninfo(user="supabase_auth_admin", dbname=db.name)

    async def make(session_key: str) -> DataPort:
        return LocalAdapter(conninfo, auth, session_key, bcrypt_rounds=4)

    async def drop_live() -> None:
        # As a restart or network drop would: the server ends the LISTEN sessions.
        db.admin.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                         "where datname = %s and query ilike 'listen%%'", (db.name,))

    return Backend("local", db, make, drop_live)
