"""Statements run as the signed-in user, exactly as PostgREST runs them.

Each call is one transaction that first sets ``role authenticated`` and the user's JWT claims
(``request.jwt.claims``), so the SQL's own RLS decides what is seen. BEGIN, the setup, the
statement and COMMIT go out pipelined and come back together: one round trip per call instead of
four. A failed statement aborts the transaction, so the COMMIT behind it only ends it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, LiteralString

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from tnm_desktop.data.errors import translate
from tnm_desktop.errors import TransientError, UserError

log = logging.getLogger(__name__)

Row = dict[str, Any]
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
        self._pool = AsyncConnectionPool[psycopg.AsyncConnection[Row]](
            conninfo, min_size=1, max_size=max_size, open=False, timeout=10,
            connection_class=psycopg.AsyncConnection[Row],
            kwargs={"autocommit": True, "row_factory": dict_row},
        )
        self._claims: str | None = None
        self._opened = False

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
        if not self._opened:
            await self._pool.open(wait=False)
            self._opened = True

    async def close(self) -> None:
        """Close every connection."""
        if self._opened:
            await self._pool.close()
            self._opened = False

    async def rows(self, query: LiteralString, params: Params = None) -> list[Row]:
        """Run one statement (which must return rows) as the user; return its rows."""
        if self._claims is None:
            raise UserError("Sign in first.", code="signed_out")
        await self.open()
        try:
            async with self._pool.connection() as conn, conn.pipeline():
                async with conn.transaction():
                    await conn.execute(
                        "select set_config('role', 'authenticated', true), "
                        "set_config('request.jwt.claims', %s, true), "
                        "set_config('statement_timeout', '8s', true)", (self._claims,))
                    cur = await conn.execute(query, params)
                # Fetched after the block has queued COMMIT, so all of it travels in one round
                # trip. Pipelined, the result is not known before fetching, so every statement
                # must return rows (use RETURNING).
                return await cur.fetchall()
        except PoolTimeout as exc:
            raise TransientError("The local database cannot be reached.", code="offline") from exc
        except psycopg.Error as exc:
            raise translated(exc) from exc

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
