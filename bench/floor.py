"""The floor: what the pipeline's round trips cost with nothing else around them.

A job row inserted together with its NOTIFY (one autocommit statement), a listener on its own
connection woken by it, a bare ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)``
claim and a bare intent update — no JSON parsing, no RLS, no pairing-key check, no terminal. It
runs on the benchmark's own database (a schema of its own), in the same run, so the pipeline's
figures can be read as a ratio of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import psycopg

from bench.common import BenchDb

TOTAL = "insert → intent recorded (the floor of received → order sent)"

_SCHEMA = """
create schema if not exists bench_floor;
drop table if exists bench_floor.jobs;
create table bench_floor.jobs (
  id bigint generated always as identity primary key,
  status text not null default 'pending',
  payload jsonb not null,
  created_at timestamptz not null default clock_timestamp(),
  claimed_at timestamptz,
  sent_at timestamptz
);
create index on bench_floor.jobs (id) where status = 'pending';
"""
_INSERT = ("with j as (insert into bench_floor.jobs (payload) values (%s) returning id) "
           "select j.id, pg_notify('bench_floor', j.id::text) from j")
_CLAIM = ("update bench_floor.jobs set status = 'running', claimed_at = clock_timestamp() where id = ("
          "select id from bench_floor.jobs where status = 'pending' order by id for update skip locked limit 1) "
          "returning id")
_INTENT = "update bench_floor.jobs set sent_at = clock_timestamp() where id = %s returning id"


async def _measure(url: str, count: int, interval: float) -> dict[str, list[float]]:
    produced: dict[int, tuple[float, float]] = {}  # job -> (before insert, committed)
    handled: dict[int, tuple[float, float, float, float]] = {}  # job -> (woken, claiming, claimed, intent)
    done = asyncio.Event()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        await admin.execute(_SCHEMA)
    worker = await psycopg.AsyncConnection.connect(url, autocommit=True)
    listener = await psycopg.AsyncConnection.connect(url, autocommit=True)
    producer = await psycopg.AsyncConnection.connect(url, autocommit=True)
    await listener.execute("listen bench_floor")

    async def work() -> None:
        async for note in listener.notifies():
            woken = time.perf_counter()
            claimed = await (await worker.execute(_CLAIM)).fetchone()
            b = time.perf_counter()
            assert claimed is not None
            await (await worker.execute(_INTENT, (claimed[0],))).fetchone()
            handled[int(note.payload)] = (woken, woken, b, time.perf_counter())
            if len(handled) == count:
                done.set()
                return

    task = asyncio.get_running_loop().create_task(work())
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            row = await (await producer.execute(_INSERT, ('{"action": "buy", "symbol": "EURUSD"}',))).fetchone()
            assert row is not None
            produced[int(row[0])] = (t0, time.perf_counter())
            await asyncio.sleep(interval)
        await asyncio.wait_for(done.wait(), 60)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for conn in (worker, listener, producer):
            await conn.close()
    stages: dict[str, list[float]] = {"insert + NOTIFY (commit)": [], "commit → listener woken": [],
                                      "claim (SKIP LOCKED, commit)": [], "intent update (commit)": [], TOTAL: []}
    for job, (t0, committed) in produced.items():
        woken, claiming, claimed, intent = handled[job]
        stages["insert + NOTIFY (commit)"].append((committed - t0) * 1000)
        # The notification can overtake the producer's own reply: never below zero.
        stages["commit → listener woken"].append(max(0.0, woken - committed) * 1000)
        stages["claim (SKIP LOCKED, commit)"].append((claimed - claiming) * 1000)
        stages["intent update (commit)"].append((intent - claimed) * 1000)
        stages[TOTAL].append((intent - t0) * 1000)
    return stages


def measure(db: BenchDb, *, count: int = 1000, interval: float = 0.01) -> dict[str, list[float]]:
    """Run the floor ``count`` times on ``db``; return each stage's durations in milliseconds."""
    return asyncio.run(_measure(db.admin, count, interval))
