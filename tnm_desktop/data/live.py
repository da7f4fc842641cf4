"""Live updates shared by both adapters: batching, re-reading under RLS, and the polling fallback.

An adapter supplies two coroutines — ``fetch(table, ids)``, which re-reads rows as the signed-in
user, and ``changes_since(moment)``, which lists what changed — and pushes ids into a
:class:`ChangeFeed` as its push channel delivers them. While the push channel is down the feed
polls ``changes_since`` instead, and after it comes back it polls once more to cover the gap
(notifications sent while nobody listened are lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta

from tnm_desktop.data.port import Change, ChangeCallback, LiveRow, LiveState, StateCallback, Table
from tnm_desktop.errors import TnmError

log = logging.getLogger(__name__)

Fetch = Callable[[Table, Sequence[str]], Awaitable[Sequence[LiveRow]]]
ChangesSince = Callable[[datetime], Awaitable[Sequence[tuple[str, str, str]]]]

# A row's timestamp is its transaction's start, which can be before its commit.
_POLL_MARGIN = timedelta(seconds=5)


class ChangeFeed:
    """Turns ids from a push channel (or from polling) into :class:`Change` callbacks.

    Args:
        tables: The tables the subscriber wants.
        fetch: Re-reads rows of one table by id, as the signed-in user.
        changes_since: Lists (table, op, id) changed since a moment, as the signed-in user.
        on_change: Called on the subscriber's event loop, once per change.
        on_state: Called when the state changes.
        poll_interval: Seconds between polls while the push channel is down.
        rows: Re-read each changed row. Without, a change arrives as soon as it is announced,
            with its operation and id but no row (``row`` is None, ``op`` is never "delete"): for
            a subscriber that only needs to know that something changed, such as the agent
            waiting for jobs, whom a read per notification would cost a round trip per wake-up.
    """

    def __init__(self, tables: Collection[Table], fetch: Fetch, changes_since: ChangesSince,
                 on_change: ChangeCallback, on_state: StateCallback | None = None,
                 poll_interval: float = 5.0, *, rows: bool = True) -> None:
        self.tables = frozenset(tables)
        self._rows = rows
        self._fetch = fetch
        self._changes_since = changes_since
        self._on_change = on_change
        self._on_state = on_state
        self.poll_interval = poll_interval
        self._queue: asyncio.Queue[tuple[Table, str, str]] = asyncio.Queue()
        self._state = LiveState.CONNECTING
        self._gap_since: datetime | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None

    @property
    def state(self) -> LiveState:
        """How changes arrive now."""
        return self._state

    def start(self) -> None:
        """Start delivering (on the running loop)."""
        self._spawn(self._deliver(), "live-deliver")

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop everything."""
        self._set_state(LiveState.CLOSED)
        tasks = [*self._tasks, *([self._poller] if self._poller else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def push(self, table: str, op: str, row_id: str) -> None:
        """Queue one change announced by the push channel."""
        try:
            kind = Table(table)
        except ValueError:
            return
        if kind in self.tables:
            self._queue.put_nowait((kind, op, row_id))

    def channel_up(self) -> None:
        """The push channel is delivering; poll once to fill any gap, then stop polling."""
        gap = self._gap_since
        self._stop_polling()
        self._set_state(LiveState.LIVE)
        if gap is not None:
            self._gap_since = None
            self._spawn(self._poll_once_quietly(gap), "live-gap")

    def channel_down(self) -> None:
        """The push channel broke; poll until :meth:`channel_up`."""
        if self._state is LiveState.CLOSED:
            return
        if self._gap_since is None:
            self._gap_since = datetime.now(UTC)
        self._set_state(LiveState.POLLING)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll_loop(), name="live-poll")

    # Internals --------------------------------------------------------------------------------

    def _set_state(self, state: LiveState) -> None:
        if state is self._state:
            return
        self._state = state
        if self._on_state is not None:
            self._on_state(state)

    def _stop_polling(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    async def _poll_loop(self) -> None:
        since = self._gap_since or datetime.now(UTC)
        failing = False
        while True:
            await asyncio.sleep(self.poll_interval)
            started = datetime.now(UTC)
            if await self._poll_once(since, quiet=failing):  # an outage is logged once, not per poll
                since, failing = started, False
            else:
                failing = True

    async def _poll_once_quietly(self, since: datetime) -> None:
        await self._poll_once(since)

    async def _poll_once(self, since: datetime, *, quiet: bool = False) -> bool:
        try:
            changed = await self._changes_since(since - _POLL_MARGIN)
        except TnmError as exc:
            log.log(logging.DEBUG if quiet else logging.INFO, "polling for changes failed: %s", exc)
            return False
        for table, op, row_id in changed:
            self.push(table, op, row_id)
        return True

    async def _deliver(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._emit(batch)

    async def _emit(self, batch: list[tuple[Table, str, str]]) -> None:
        by_table: dict[Table, dict[str, str]] = {}
        for table, op, row_id in batch:
            ops = by_table.setdefault(table, {})
            ops[row_id] = "insert" if "insert" in (op, ops.get(row_id)) else op
        for table, ops in by_table.items():
            if not self._rows:
                for row_id, op in ops.items():
                    self._call(Change(table, op, row_id, None))
                continue
            try:
                rows = await self._fetch(table, list(ops))
            except TnmError as exc:
                log.info("re-reading %s failed: %s", table, exc)
                self._queue_retry(table, ops)
                continue
            found = {getattr(row, "id", None) or getattr(row, "account_id", None): row for row in rows}
            for row_id, op in ops.items():
                row = found.get(row_id)
                self._call(Change(table, op if row is not None else "delete", row_id, row))

    def _call(self, change: Change) -> None:
        try:
            self._on_change(change)
        except Exception:  # a subscriber's bug must not stop the feed
            log.exception("live update callback failed")

    def _queue_retry(self, table: Table, ops: dict[str, str]) -> None:
        async def later() -> None:
            await asyncio.sleep(self.poll_interval)
            for row_id, op in ops.items():
                self._queue.put_nowait((table, op, row_id))

        self._spawn(later(), "live-retry")
