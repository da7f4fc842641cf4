"""Live updates through Supabase Realtime ``postgres_changes``, with reconnects and polling.

One channel per subscription, one ``postgres_changes`` binding per table, each filtered to
``user_id=eq.<uid>`` (Realtime applies RLS as well). A change only announces an id: the
:class:`~tnm_desktop.data.live.ChangeFeed` re-reads the row through PostgREST, so subscribers get
the same domain objects as from any query, and polls ``changes_since`` while the socket is down.

A channel counts as live from Realtime's "Subscribed to PostgreSQL" system message, not from the
join reply: the server answers the join first and subscribes to the database after, and changes
committed in between would be lost.

The realtime client's own reconnect gives up for good after a few attempts, so it is off; a
supervisor task here reconnects with jittered backoff for as long as the subscription lives,
re-creates the channel when the server closed it, and keeps the socket's access token current.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable
from typing import Any

from realtime import AsyncRealtimeChannel, AsyncRealtimeClient, RealtimeSubscribeStates
from realtime.message import SuccessSystemPayload
from realtime.types import RealtimePostgresChangesListenEvent

from tnm_desktop.data.live import ChangeFeed
from tnm_desktop.data.port import LiveState
from tnm_desktop.data.supabase.session import SessionKeeper

log = logging.getLogger(__name__)

_OPS = {"INSERT": "insert", "UPDATE": "update", "DELETE": "delete"}


class RealtimeSubscription:
    """A live subscription over a Realtime channel.

    Args:
        realtime: The adapter's realtime client (one socket shared by its subscriptions).
        keeper: Where the access token comes from.
        user_id: The signed-in user; every binding is filtered to their rows.
        feed: Delivers the changes and polls while the channel is down.
        backoff: First and longest pause between reconnect attempts, in seconds.
    """

    def __init__(self, realtime: AsyncRealtimeClient, keeper: SessionKeeper, user_id: str, feed: ChangeFeed,
                 *, backoff: tuple[float, float] = (0.5, 30.0)) -> None:
        self._realtime = realtime
        self._keeper = keeper
        self._user_id = user_id
        self.feed = feed
        self._backoff = backoff
        self._channel: AsyncRealtimeChannel | None = None
        self._task: asyncio.Task[None] | None = None
        self._healthy = asyncio.Event()
        self._broken = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._unwatch: Callable[[], None] | None = None
        self._closing = False

    @property
    def state(self) -> LiveState:
        """How changes arrive now."""
        return self.feed.state

    async def start(self) -> None:
        """Subscribe; return once the first attempt has succeeded or failed (then it keeps trying)."""
        self.feed.start()
        self._unwatch = self._keeper.watch(self._on_token)
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name="realtime-supervisor")
        await self._first_attempt.wait()

    async def close(self) -> None:
        """Leave the channel and stop."""
        self._closing = True  # leaving reports CLOSED: that is not a broken channel
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        channel, self._channel = self._channel, None
        if channel is not None:
            with contextlib.suppress(Exception):  # leaving a dead socket must not stop the close
                async with asyncio.timeout(5):
                    await self._realtime.remove_channel(channel)
        await self.feed.close()

    # The supervisor -----------------------------------------------------------------------------

    async def _supervise(self) -> None:
        first, longest = self._backoff
        pause = first
        while True:
            try:
                await self._connect_and_join()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the socket library raises many kinds; all mean "down"
                log.info("realtime: cannot subscribe (%s); polling until it works", exc)
                self._down()
            if self._healthy.is_set():
                self._first_attempt.set()
                pause = first
                await self._broken.wait()
                continue
            self._first_attempt.set()
            await asyncio.sleep(pause * random.uniform(0.8, 1.2))  # noqa: S311 — jitter, not secrecy
            pause = min(pause * 2, longest)

    async def _connect_and_join(self) -> None:
        token = await self._keeper.fresh_token()
        if self._realtime.access_token != token:
            await self._realtime.set_auth(token)
        if not self._realtime.is_connected:
            await self._realtime.connect()  # rejoins the channels the drop left errored
        channel = self._channel
        if channel is None or self._realtime.channels.get(channel.topic) is not channel:
            channel = self._channel = self._new_channel()
            await channel.subscribe(self._on_status)
        try:
            async with asyncio.timeout(self._realtime.timeout):
                await self._healthy.wait()
        except TimeoutError:
            if not channel.is_joined:
                raise
            # Joined, but the server never said its database subscription is ready: trust the join.
            log.info("realtime: no 'Subscribed to PostgreSQL' from the server; taking the join as live")
            self._live()

    def _new_channel(self) -> AsyncRealtimeChannel:
        self._healthy.clear()
        self._broken.clear()
        channel = self._realtime.channel(f"tnm-{uuid.uuid4().hex[:12]}")
        channel.on_system(self._on_system)
        for table in sorted(self.feed.tables):
            channel.on_postgres_changes(RealtimePostgresChangesListenEvent.All, self._on_change, table=table.value,
                                        schema="public", filter=f"user_id=eq.{self._user_id}")
        return channel

    def _on_status(self, status: RealtimeSubscribeStates, error: Exception | None) -> None:
        # SUBSCRIBED means joined; the channel is live once the server's system message says so.
        if self._closing or status is RealtimeSubscribeStates.SUBSCRIBED:
            return
        log.info("realtime: channel %s (%s); polling until it is back", status.value, error)
        self._down()

    def _on_system(self, payload: SuccessSystemPayload) -> None:
        # Realtime answers a join at once and subscribes to the database after: changes committed
        # in between would be lost, so the channel counts as live only from this message on.
        if payload.extension == "postgres_changes" and not self._closing:
            self._live()

    def _live(self) -> None:
        self._broken.clear()
        self._healthy.set()
        self.feed.channel_up()

    def _down(self) -> None:
        self._healthy.clear()
        self._broken.set()
        self.feed.channel_down()

    def _on_change(self, payload: Any) -> None:
        data = payload.get("data", {}) if isinstance(payload, dict) else {}
        record = data.get("record") or data.get("old_record") or {}
        row_id = record.get("id") if isinstance(record, dict) else None
        if row_id is None:
            log.warning("realtime: a change without an id: %r", str(payload)[:200])
            return
        kind = data.get("type")
        kind = getattr(kind, "value", kind)  # the client parses it into an enum
        self.feed.push(str(data.get("table")), _OPS.get(str(kind), "update"), str(row_id))

    def _on_token(self, token: str | None) -> None:
        if token is not None and token != self._realtime.access_token:
            task = asyncio.get_running_loop().create_task(self._push_token(token), name="realtime-token")
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _push_token(self, token: str) -> None:
        try:
            await self._realtime.set_auth(token)
        except Exception as exc:  # a dead socket: the next join carries the token anyway
            log.info("realtime: could not pass on the new token (%s)", exc)
