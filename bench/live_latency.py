"""Measurement 3 — live update latency: an insert to its subscriber callback, a new job to its agent.

    python -m bench.live_latency [--inserts 1000] [--jobs 200] [--runs 3]

1. **Insert → subscriber callback**, through the app's local live-update port: a
   :class:`LocalAdapter` signed in as the trader subscribes to ``jobs`` (the trigger NOTIFYs the
   user's channel, :class:`LocalListener` hears it, :class:`ChangeFeed` delivers it). Two ways, as
   the app subscribes: *with the row* (the GUI's views: the feed re-reads the row under RLS before
   the callback) and *announcement only* (the agent: ``rows=False``). Another thread inserts one
   job every ``--interval`` seconds on its own connection; the clock runs from just before the
   INSERT is sent to the callback (one process, ``perf_counter``).
2. **New job → an idle agent holding it**: the real agent (its own thread and loop, the
   simulator in-process) sits idle; a ``get_account`` job is inserted every 100 ms, so the agent is
   idle again each time. Stages: insert sent → notification at the agent → agent woken (the
   harness's clocks, wall clock) and the rows' own ``created_at`` → ``claimed_at`` (database clock,
   one machine).

Target (issue 7): p50 ≤ 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from tnm_desktop.data.local.adapter import LocalAdapter
from tnm_desktop.data.port import Change, Table
from tnm_desktop.domain import Session

from bench.common import BenchDb, Summary, Trader, median_of, print_machine, private_database, seed_trader, table
from bench.common import verdict as said
from bench.harness import AgentHarness

WITH_ROW = "insert → callback, with the row (GUI views)"
ANNOUNCED = "insert → callback, announcement only (agent)"
HOLD = "job inserted → idle agent holds it (created_at → claimed_at)"
HOLD_STAGES = ("insert sent → agent notified", "agent notified → woken", "insert sent → agent woken")

_INSERT = ("insert into public.jobs (user_id, job_type, payload) values (%s, %s, '{}') returning id::text")


def _insert_jobs(url: str, user_id: str, job_type: str, count: int, interval: float,
                 sent: dict[str, float], clock: str = "perf") -> None:
    # On its own thread and connection: the subscriber's loop only listens.
    now = time.perf_counter if clock == "perf" else time.time
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(count):
            t0 = now()
            row = conn.execute(_INSERT, (user_id, job_type)).fetchone()
            assert row is not None
            sent[row[0]] = t0
            time.sleep(interval)


async def _callback_latency(db: BenchDb, trader: Trader, rows: bool, count: int, interval: float) -> list[float]:
    adapter = LocalAdapter(db.app, db.auth, "bench-live")
    adapter.act_as(Session(trader.user_id, trader.email, "local"))
    seen: dict[str, float] = {}
    done = asyncio.Event()

    def on_change(change: Change) -> None:
        if change.op == "insert":
            seen.setdefault(change.id, time.perf_counter())
            if len(seen) >= count:
                done.set()

    sent: dict[str, float] = {}
    try:
        await adapter.subscribe([Table.JOBS], on_change, rows=rows)
        await adapter.ping()  # the pool's connection, for the re-reads, is open
        inserter = asyncio.create_task(asyncio.to_thread(
            _insert_jobs, db.admin, trader.user_id, "test", count, interval, sent))
        await inserter
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await adapter.close()
    with psycopg.connect(db.admin, autocommit=True) as conn:
        conn.execute("delete from public.jobs where user_id = %s", (trader.user_id,))
    return [(seen[job] - t0) * 1000 for job, t0 in sent.items() if job in seen]


def _hold_latency(db: BenchDb, trader: Trader, agent: AgentHarness, count: int,
                  interval: float) -> dict[str, list[float]]:
    sent: dict[str, float] = {}
    _insert_jobs(db.admin, trader.user_id, "get_account", count, interval, sent, clock="wall")
    deadline = time.monotonic() + 60
    with psycopg.connect(db.admin, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("select count(*) from jobs where id = any(%s::uuid[]) and status <> 'completed'",
                               (list(sent),)).fetchone()
            if row is not None and row[0] == 0:
                break
            time.sleep(0.2)
        rows = conn.execute("select id::text, extract(epoch from claimed_at - created_at) * 1000 from jobs "
                            "where id = any(%s::uuid[]) and claimed_at is not null", (list(sent),)).fetchall()
    out: dict[str, list[float]] = {HOLD: [float(r[1]) for r in rows]}
    for name in HOLD_STAGES:
        out[name] = []
    for job, t0 in sent.items():
        notified, woken = agent.notified.get(job), agent.woken.get(job)
        if notified is not None:
            out[HOLD_STAGES[0]].append((notified - t0) * 1000)
        if notified is not None and woken is not None:
            out[HOLD_STAGES[1]].append((woken - notified) * 1000)
        if woken is not None:
            out[HOLD_STAGES[2]].append((woken - t0) * 1000)
    return out


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inserts", type=int, default=1000, help="inserts per subscriber run (default 1000)")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between inserts (default 0.01)")
    parser.add_argument("--jobs", type=int, default=200, help="jobs per idle-agent run (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="repeated runs (default 3)")
    parser.add_argument("--fast-db", action="store_true", help="fsync off (the default is the workspace's durable "
                                                                "commits)")
    args = parser.parse_args()

    runs: list[dict[str, list[float]]] = []
    with private_database("tnm-bench-live-", fast=args.fast_db) as db, tempfile.TemporaryDirectory() as work:
        print_machine(db.cluster)
        print(f"live latency: {args.runs} runs × ({args.inserts} inserts per subscriber, one every "
              f"{args.interval * 1000:.0f} ms; {args.jobs} jobs to an idle agent, one every 100 ms), "
              f"{'fsync off' if args.fast_db else 'durable commits'}\n")
        trader = seed_trader(db.admin)
        asyncio.run(_callback_latency(db, trader, True, 20, args.interval))  # warm-up
        for _ in range(args.runs):
            runs.append({WITH_ROW: asyncio.run(_callback_latency(db, trader, True, args.inserts, args.interval)),
                         ANNOUNCED: asyncio.run(_callback_latency(db, trader, False, args.inserts, args.interval))})
        agent = AgentHarness(db, trader, None, Path(work) / "ea")
        agent.start()
        try:
            _hold_latency(db, trader, agent, 10, 0.1)  # warm-up: the caches, the schema
            for run in runs:
                run.update(_hold_latency(db, trader, agent, args.jobs, 0.1))
        finally:
            agent.stop()
    report(runs)


def report(runs: list[dict[str, list[float]]]) -> None:
    """Print each path's percentiles (median over the runs) and the verdicts."""
    rows = []
    for name in (WITH_ROW, ANNOUNCED, HOLD, *HOLD_STAGES):
        s = median_of([Summary.of(run.get(name, [])) for run in runs])
        rows.append((name, s.n, s.p50, s.p95, s.p99, s.max))
    print(table(("ms (median of the runs' percentiles)", "n", "p50", "p95", "p99", "max"), rows))
    print()
    for name in (WITH_ROW, ANNOUNCED, HOLD):
        p50s = [Summary.of(run[name]).p50 for run in runs]
        p50 = statistics.median(p50s)
        print(f"{name}: p50 per run {', '.join(f'{v:.2f}' for v in p50s)} ms; target p50 ≤ 5 ms: "
              f"{p50:.2f} ms {said(p50 <= 5)}")


if __name__ == "__main__":
    main()
