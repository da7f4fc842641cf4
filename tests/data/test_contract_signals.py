"""Contract: the signal log, page by page, newest first, with filters and counts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from tnm_desktop.domain import SignalFilter, SignalStatus

from tests.data.backends import Backend
from tests.data.helpers import insert_signal, strategy_for


async def test_pages_newest_first_without_gaps_or_repeats(backend: Backend) -> None:
    user = backend.db.create_user()
    port = await backend.signed_in(user)
    strategy = await strategy_for(port)
    base = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    ids = []
    for i in range(23):
        # Pairs share a timestamp: the id must break the tie or a page boundary loses rows.
        ids.append(insert_signal(backend.db, user, strategy.id, received_at=base + timedelta(seconds=i // 2)))
    seen: list[str] = []
    after = None
    while True:
        page = await port.list_signals(SignalFilter(), after=after, limit=5)
        if not page:
            break
        assert len(page) <= 5
        seen.extend(s.id for s in page)
        after = page[-1].cursor
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen)) == 23
    keys = [(s.received_at, s.id) for s in await port.list_signals(SignalFilter(), limit=100)]
    assert keys == sorted(keys, reverse=True)


async def test_filters_and_counts(backend: Backend) -> None:
    user = backend.db.create_user()
    port = await backend.signed_in(user)
    trend, scalp = await strategy_for(port, "Trend"), await strategy_for(port, "Scalp")
    now = datetime.now(UTC)
    insert_signal(backend.db, user, trend.id, symbol="EURUSD", status="executed")
    insert_signal(backend.db, user, trend.id, symbol="GBPUSD", status="failed")
    insert_signal(backend.db, user, scalp.id, symbol="EURUSD", status="discarded")
    insert_signal(backend.db, user, scalp.id, symbol="EURUSD", status="executed",
                  received_at=now - timedelta(days=3))

    by_strategy = await port.list_signals(SignalFilter(strategy_id=trend.id))
    assert {s.symbol for s in by_strategy} == {"EURUSD", "GBPUSD"}
    failed = await port.list_signals(SignalFilter(status=SignalStatus.FAILED))
    assert [s.symbol for s in failed] == ["GBPUSD"]
    assert len(await port.list_signals(SignalFilter(symbol="eurusd"))) == 3
    recent = await port.list_signals(SignalFilter(since=now - timedelta(days=1)))
    assert len(recent) == 3
    old = await port.list_signals(SignalFilter(until=now - timedelta(days=1)))
    assert [s.status for s in old] == [SignalStatus.EXECUTED]

    counts = await port.count_signals(SignalFilter())
    assert counts == {SignalStatus.PENDING: 0, SignalStatus.EXECUTED: 2, SignalStatus.FAILED: 1,
                      SignalStatus.DISCARDED: 1}
    assert (await port.count_signals(SignalFilter(strategy_id=scalp.id)))[SignalStatus.EXECUTED] == 1


async def test_get_signals_by_id_returns_the_payload(backend: Backend) -> None:
    user = backend.db.create_user()
    port = await backend.signed_in(user)
    strategy = await strategy_for(port)
    signal_id = insert_signal(backend.db, user, strategy.id, symbol="XAUUSD", action="sell")
    (signal,) = await port.get_signals([signal_id])
    assert (signal.symbol, signal.action, signal.status) == ("XAUUSD", "sell", SignalStatus.PENDING)
    assert signal.raw_payload == {"symbol": "XAUUSD", "action": "sell"}
    assert await port.get_signals([]) == []
    (listed,) = await port.list_signals(SignalFilter())  # a page leaves the payload to the detail
    assert listed.raw_payload is None
    assert listed == dataclasses.replace(signal, raw_payload=None)
