"""The receiver's one database call: ``public.ingest_tv_signal``, through a small async pool."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from tnm_desktop.data.pool_log import quiet_pool_warnings
from tnm_desktop.domain import ClaimedJob
from tnm_desktop.domain.handover import Handover, Ticket
from tnm_desktop.errors import TransientError

log = logging.getLogger(__name__)

_CALL = "select signal_id::text, status, reason, job_id::text, code from public.ingest_tv_signal(%s, %s, %s, %s)"
# The same, claiming for the app's idle agent (domain.handover): the claimed job's columns follow.
_CALL_AND_CLAIM = ("select i.signal_id::text, i.status, i.reason, i.job_id::text, i.code, i.risk_state, (i.claimed).* "
                   "from public.ingest_tv_signal_and_claim(%s, %s, %s, %s, %s, %s, %s) i")
_JOB_COLUMNS = 6  # where the claimed job's columns start in _CALL_AND_CLAIM's row


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What the database answered for one request.

    ``code`` is one of accepted, duplicate, disabled, malformed, invalid, too_large, rejected,
    not_found; ``status`` is the signal's status (or ``not_found``); ``reason`` is what the
    trader reads in the signal log. ``handed``: a job was claimed for the app's idle agent and handed
    to it (:mod:`tnm_desktop.domain.handover`).
    """

    signal_id: str | None
    status: str
    reason: str | None
    job_id: str | None
    code: str
    handed: bool = False


class IngestRefused(Exception):
    """The database refused the call for a reason other than being unreachable (a bug)."""


def clean_text(value: str) -> str:
    """Make any text storable: PostgreSQL text holds neither NUL nor lone surrogates."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


class Ingestor:
    """Calls the ingestion function as role ``tnm_ingest``.

    The pool opens in the background, so the receiver starts (and answers 503) while the
    database is down, and recovers by itself when it comes back. A connection broken by a
    database restart must never cost an alert (TradingView does not send it again): a call that
    fails on a broken connection is made once more on a fresh one, after the pool has dropped
    its other broken ones. Checking every connection as it is taken instead cost a round trip
    per alert. Making the call twice is safe: a call whose commit did happen makes the second
    one a duplicate, answered as received.

    Args:
        database_url: libpq URL of role ``tnm_ingest``.
        pool_size: Connections at most.
        pool_timeout: Seconds to wait for a connection.
        statement_timeout_ms: Limit of one call inside the database.
        direct: Not behind a transaction pooler: prepare the call once per connection.
        handover: Where the app's own agent, when idle, lets an alert's call claim its new job
            for it (a receiver in the agent's process only).
    """

    def __init__(self, database_url: str, *, pool_size: int = 4, pool_timeout: float = 1.0,
                 statement_timeout_ms: int = 1500, direct: bool = False, handover: Handover | None = None) -> None:
        self._timeout_ms = statement_timeout_ms
        self._handover = handover
        quiet_pool_warnings()  # one warning per outage, not one per reconnection attempt
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]] = AsyncConnectionPool(
            database_url, min_size=1, max_size=pool_size, timeout=pool_timeout, open=False,
            name="tnm-webhook", configure=self._configure,
            # Short: the pool's reconnection backoff doubles until this, so a database back after a
            # long outage would otherwise wait up to a minute for the next attempt (issue 15).
            reconnect_timeout=5.0,
            # Server-side prepared statements break behind PgBouncer-style poolers: only on a
            # database reached directly (the app's own) is the call prepared, from its first use
            # (0.1-0.25 ms less an alert here: no parsing and planning of the call each time).
            kwargs={"autocommit": True, "prepare_threshold": 0 if direct else None, "connect_timeout": 3,
                    "application_name": "tnm-webhook"},
        )

    async def _configure(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        await conn.execute("select set_config('statement_timeout', %s, false)", (f"{self._timeout_ms}ms",))

    async def open(self) -> None:
        """Start connecting in the background."""
        await self._pool.open(wait=False)

    async def close(self) -> None:
        """Close every connection."""
        await self._pool.close(timeout=2.0)

    async def ingest(self, secret: str, body: str, received_at: datetime, reject_reason: str | None = None,
                     *, within: float) -> IngestResult:
        """Log one request and, when valid, create its trade job.

        Raises:
            TransientError: The database cannot be reached or did not answer ``within`` seconds.
            IngestRefused: The database raised an error for this call.
        """
        params = (clean_text(secret), clean_text(body), received_at,
                  clean_text(reject_reason) if reject_reason is not None else None)
        # A refused request creates no job: nothing to claim for the agent.
        ticket = self._handover.reserve() if self._handover is not None and reject_reason is None else None
        claimed: ClaimedJob | None = None
        known = False  # whether the agent may rely on ``claimed`` (the first call answered)
        try:
            async with asyncio.timeout(within):
                try:
                    row, claimed = await self._first_call(params, ticket)
                    known = True
                except psycopg.OperationalError:
                    # Most likely a connection the database dropped while it sat in the pool
                    # (a restart): drop the other broken ones, then once more on a sound one.
                    await self._pool.check()
                    row = await self._call(params)
        except (PoolTimeout, TimeoutError, psycopg.OperationalError) as exc:
            raise TransientError("The signal database is unreachable.", code="database_unavailable") from exc
        except psycopg.Error as exc:
            raise IngestRefused(type(exc).__name__) from exc
        finally:
            if ticket is not None:
                ticket.deliver(claimed, known=known)
        if row is None:
            raise IngestRefused("no result")
        return IngestResult(signal_id=row[0], status=str(row[1]), reason=row[2], job_id=row[3], code=str(row[4]),
                            handed=claimed is not None)

    async def _first_call(self, params: tuple[str, str, datetime, str | None],
                          ticket: Ticket | None) -> tuple[TupleRow | None, ClaimedJob | None]:
        if ticket is not None:
            try:
                return await self._call_and_claim(params, ticket)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                # The call rolled back whole: log the alert the plain way rather than lose it.
                log.error("claiming at ingestion failed (%s); the agent claims the job itself", type(exc).__name__)
        return await self._call(params), None

    async def _call_and_claim(self, params: tuple[str, str, datetime, str | None],
                              ticket: Ticket) -> tuple[TupleRow | None, ClaimedJob | None]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_CALL_AND_CLAIM, (*params, ticket.creds.agent_id, ticket.creds.key,
                                                       ticket.lease_seconds))
            row = await cur.fetchone()
            names = [column.name for column in cur.description or ()]
        if row is None or row[_JOB_COLUMNS] is None:
            return row, None
        job = dict(zip(names[_JOB_COLUMNS:], row[_JOB_COLUMNS:], strict=True))
        job["risk_state"] = row[_JOB_COLUMNS - 1]
        return row, ClaimedJob.from_row(job)

    async def _call(self, params: tuple[str, str, datetime, str | None]) -> TupleRow | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_CALL, params)
            return await cur.fetchone()

    async def healthy(self, within: float = 1.0) -> bool:
        """Whether the database answers now."""
        try:
            async with asyncio.timeout(within), self._pool.connection() as conn:
                await conn.execute("select 1")
        except (PoolTimeout, TimeoutError, psycopg.Error):
            return False
        return True
