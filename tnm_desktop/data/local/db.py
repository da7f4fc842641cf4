"""Statements run as the signed-in user, exactly as PostgREST runs them.

Every statement runs as ``role authenticated`` with the user's JWT claims (``request.jwt.claims``),
so the SQL's own RLS decides what is seen. The pool's connections serve this one user only, so
each connection is set up once per user (session settings, redone when the user changes) and a
call is then one autocommit statement: one round trip, a prepared statement after a few calls.
Setting it per transaction instead (BEGIN, setup, statement, COMMIT, pipelined) cost ~0.6 ms of
Python per call on top of the round trip and halved the agent's claims per second (issue 7).

psycopg needs a loop that can wait on sockets: on one that cannot (the GUI's on Windows), the pool
lives on the shared selector loop thread instead (:func:`tnm_desktop.loops.on_selector_loop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from tnm_desktop.data.errors import translate
from tnm_desktop.data.pool_log import quiet_pool_warnings
from tnm_desktop.errors import TransientError, UserError
from tnm_desktop.loops import on_selector_loop

log = logging.getLogger(__name__)

Row = dict[str, Any]
_WAIT_S = 5.0  # for a connection, and between reconnection attempts at most
Params = Sequence[Any] | Mapping[str, Any] | None


def translated(exc: psycopg.Error) -> Exception:
    """The taxonomy error for a psycopg error (the original when it is a bug)."""
    if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None:
        return TransientError("The local database cannot be reached.", code="offline")
    diag = exc.diag
    return translate(exc.sqlstate, diag.message_primary or str(exc), diag.constraint_name) or exc


class UserDb:
    """A small pool of connections that act as one signed-in user.

    Args:
        conninfo: libpq URL of the ``authenticator`` role (it can only become anon/authenticated).
        max_size: Connections kept at most; the GUI and its live views need few.
    """

    def __init__(self, conninfo: str, *, max_size: int = 4) -> None:
        # The pool's reconnection backoff doubles from 1 s until ``reconnect_timeout``, when it
        # gives up until the next request: a short one keeps the attempts a few seconds apart, so
        # that a database back after a long outage is used within seconds, not a minute later.
        self._pool = AsyncConnectionPool[psycopg.AsyncConnection[Row]](
            conninfo, min_size=1, max_size=max_size, open=False, timeout=_WAIT_S,
            reconnect_timeout=_WAIT_S, connection_class=psycopg.AsyncConnection[Row],
            kwargs={"autocommit": True, "row_factory": dict_row},
        )
        self._checking: asyncio.Task[None] | None = None
        quiet_pool_warnings()
        self._claims: str | None = None
        self._opened = False
        # The claims each pooled connection was set up with.
        self._set_up: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Row], str] = weakref.WeakKeyDictionary()
        # One connection kept out of the pool for calls one after another (the agent's claim, then
        # its intent): after a moment of quiet, taking a connection from the pool and giving it
        # back costs ~0.15 ms here (12 µs back to back), a tenth of a claim's round trip. A call
        # made while it is in use takes one from the pool.
        self._kept: psycopg.AsyncConnection[Row] | None = None
        self._kept_busy = False

    def __repr__(self) -> str:
        return f"UserDb(signed_in={self._claims is not None})"

    def act_as(self, user_id: str | None, email: str = "") -> None:
        """Act as this user from now on (None: as nobody — calls are refused)."""
        if user_id is None:
            self._claims = None
        else:
            self._claims = json.dumps({"sub": user_id, "role": "authenticated", "email": email,
                                       "aud": "authenticated"})

    async def open(self) -> None:
        """Open the pool (idempotent)."""
        await on_selector_loop(self._open)

    async def _open(self) -> None:
        if not self._opened:
            await self._pool.open(wait=False)
            self._opened = True

    async def close(self) -> None:
        """Close every connection."""
        await on_selector_loop(self._close)

    async def _close(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checking
            self._checking = None
        await self._give_back()
        if self._opened:
            await self._pool.close()
            self._opened = False

    async def rows(self, query: LiteralString, params: Params = None) -> list[Row]:
        """Run one statement (which must return rows) as the user; return its rows."""
        claims = self._claims
        if claims is None:
            raise UserError("Sign in first.", code="signed_out")
        return await on_selector_loop(lambda: self._rows(claims, query, params))

    async def _rows(self, claims: str, query: LiteralString, params: Params) -> list[Row]:
        await self._open()
        try:
            if self._kept_busy:
                async with self._pool.connection() as conn:
                    return await self._run(conn, claims, query, params)
            self._kept_busy = True
            try:
                if self._kept is None:
                    self._kept = await self._pool.getconn()
                return await self._run(self._kept, claims, query, params)
            finally:
                self._kept_busy = False
                kept = self._kept
                if kept is not None and (kept.broken or kept.info.transaction_status != TransactionStatus.IDLE):
                    # Broken, or left mid-statement by a cancelled call: the pool mends or drops it.
                    await self._give_back()
        except PoolTimeout as exc:
            raise TransientError("The local database cannot be reached.", code="offline") from exc
        except psycopg.Error as exc:
            error = translated(exc)
            if isinstance(error, TransientError):
                self._check_soon()
            raise error from exc

    async def _run(self, conn: psycopg.AsyncConnection[Row], claims: str, query: LiteralString,
                   params: Params) -> list[Row]:
        if self._set_up.get(conn) != claims:
            self._set_up.pop(conn, None)
            await conn.execute(
                "select set_config('role', 'authenticated', false), "
                "set_config('request.jwt.claims', %s, false), "
                "set_config('statement_timeout', '8s', false)", (claims,))
            self._set_up[conn] = claims
        cur = await conn.execute(query, params)
        return await cur.fetchall()

    async def _give_back(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None:
            await self._pool.putconn(kept)

    def _check_soon(self) -> None:
        # A connection broke: the idle ones most likely did too (the server went away). Checking
        # them now spares the calls after its return a broken connection each.
        if self._opened and (self._checking is None or self._checking.done()):
            self._checking = asyncio.get_running_loop().create_task(self._check(), name="pool-check")

    async def _check(self) -> None:
        with contextlib.suppress(psycopg.Error, OSError, PoolTimeout):
            await self._pool.check()

    async def row(self, query: LiteralString, params: Params = None) -> Row | None:
        """Run one statement as the user; return its first row."""
        found = await self.rows(query, params)
        return found[0] if found else None

    async def one(self, query: LiteralString, params: Params = None, *, missing: str = "Not found.") -> Row:
        """Run one statement as the user; return its row, or raise UserError(not_found)."""
        found = await self.row(query, params)
        if found is None:
            raise UserError(missing, code="not_found")
        return found
