"""The local workspace's LISTEN connection sleeps while nothing happens."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import TypeVarTuple

from tnm_desktop.data.port import Change, LiveState, Table

from tests.data.backends import local_backend
from tests.pg import Db
from tests.waiting import eventually

Ts = TypeVarTuple("Ts")


async def test_an_idle_subscription_does_not_wake_the_loop_on_a_timer(db: Db) -> None:
    # psycopg's notifies() wakes every 100 ms; an idle agent and an idle window would pay that
    # ten times a second (bench.idle, issue 7).
    backend = local_backend(db)
    try:
        port = await backend.signed_in(db.create_user())
        changes: list[Change] = []
        sub = await port.subscribe([Table.JOBS], changes.append, rows=False)
        await eventually(lambda: sub.state is LiveState.LIVE)
        await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        timers: list[float] = []
        call_later = loop.call_later

        def counted(delay: float, callback: Callable[[*Ts], object], *args: *Ts,
                    context: contextvars.Context | None = None) -> asyncio.TimerHandle:
            timers.append(delay)
            return call_later(delay, callback, *args, context=context)

        loop.call_later = counted  # type: ignore[method-assign]
        try:
            await asyncio.sleep(1.0)
        finally:
            loop.call_later = call_later  # type: ignore[method-assign]
        assert [t for t in timers if t != 1.0] == []  # only this test's own sleep
        await sub.close()
    finally:
        await backend.close()
