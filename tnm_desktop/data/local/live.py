"""LISTEN on the signed-in user's channel; reconnect with backoff when the connection drops.

The LISTEN connection waits on its socket, so it runs on a loop that can (see
:func:`tnm_desktop.loops.can_wait_on_sockets`): the subscriber's, or else the shared selector loop
thread, from which what it hears is handed back to the subscriber's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from tnm_desktop.data.live import ChangeFeed
from tnm_desktop.data.port import LiveState
from tnm_desktop.loops import can_wait_on_sockets, shared_selector_thread

log = logging.getLogger(__name__)


def channel_of(user_id: str) -> str:
    """The NOTIFY channel of a user (see the live updates migration)."""
    return "tnm_" + user_id.replace("-", "")


def waiting_jobs_channel_of(user_id: str) -> str:
    """The NOTIFY channel of a user's jobs that start to wait for an agent (20251224000000)."""
    return "tnm_jobs_" + user_id.replace("-", "")


class LocalListener:
    """A live subscription over LISTEN/NOTIFY.

    Notifications carry (table, op, id) only; the feed re-reads each row as the user, so what a
    subscriber receives is exactly what RLS lets that user see. ``channel`` is the user's own
    (every change) unless given (:func:`waiting_jobs_channel_of`).
    """

    def __init__(self, conninfo: str, user_id: str, feed: ChangeFeed, *, max_backoff: float = 2.0,
                 channel: str | None = None) -> None:
        self._conninfo = conninfo
        self._channel = channel or channel_of(user_id)
        self.feed = feed
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self._elsewhere: concurrent.futures.Future[None] | None = None  # run on the selector thread
        self._first_attempt = asyncio.Event()
        self._ended = asyncio.Event()
        self._to_feed: Callable[..., object] = _call  # how _run reaches the feed's loop

    @property
    def state(self) -> LiveState:
        """How changes arrive now."""
        return self.feed.state

    async def start(self) -> None:
        """Connect and start listening; return once the first attempt has succeeded or failed."""
        self.feed.start()
        loop = asyncio.get_running_loop()
        if can_wait_on_sockets(loop):
            self._task = loop.create_task(self._run(), name=f"listen-{self._channel}")
        else:
            self._to_feed = loop.call_soon_threadsafe
            self._elsewhere = asyncio.run_coroutine_threadsafe(self._run_elsewhere(), shared_selector_thread().loop)
        try:
            await self._first_attempt.wait()
        except BaseException:
            if self._elsewhere is not None:
                self._elsewhere.cancel()
            raise

    async def close(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._elsewhere is not None:
            self._elsewhere.cancel()
            await self._ended.wait()  # its connection is closed
            self._elsewhere = None
        await self.feed.close()

    async def _run_elsewhere(self) -> None:
        try:
            await self._run()
        finally:
            self._to_feed(self._ended.set)

    async def _run(self) -> None:
        # The backoff stays short: whoever waits for the database to come back (the agent after an
        # outage) hears it from here within seconds. Each outage is logged once, not per attempt.
        delay = 0.25
        logged = False
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            except (psycopg.Error, OSError) as exc:
                if not logged:
                    log.info("live updates: cannot connect (%s); polling until it is back", exc)
                logged = True
                self._to_feed(self._down)
            else:
                try:
                    await conn.execute(sql.SQL("listen {}").format(sql.Identifier(self._channel)))
                    self._to_feed(self.feed.channel_up)
                    self._to_feed(self._first_attempt.set)
                    delay, logged = 0.25, False
                    await self._listen(conn)
                except (psycopg.Error, OSError) as exc:
                    if not logged:
                        log.info("live updates: connection lost (%s); polling until it is back", exc)
                    logged = True
                    self._to_feed(self._down)
                finally:
                    with contextlib.suppress(psycopg.Error, OSError):
                        await conn.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        # Sleep until the socket has something to read, then take what arrived. Waiting in
        # ``conn.notifies()`` instead wakes the loop every 100 ms (psycopg's wait interval): 10
        # wake-ups a second, ~2 ms of CPU a second per listener while nothing happens (issue 7).
        loop = asyncio.get_running_loop()
        fd = conn.fileno()
        readable = asyncio.Event()
        while True:
            # timeout=0: what has arrived, without waiting (a closed socket raises OperationalError).
            async for note in conn.notifies(timeout=0):
                self._to_feed(self._push, note.payload)
            loop.add_reader(fd, readable.set)
            try:
                await readable.wait()
            finally:
                loop.remove_reader(fd)
            readable.clear()

    def _down(self) -> None:
        self.feed.channel_down()
        self._first_attempt.set()

    def _push(self, payload: str) -> None:
        try:
            note = json.loads(payload)
            self.feed.push(str(note["table"]), str(note["op"]), str(note["id"]))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed notification: %r", payload[:200])


def _call(fn: Callable[..., object], *args: object) -> None:
    fn(*args)
