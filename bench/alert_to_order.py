"""Measurement 1 — alert to order: 1,000 TradingView alerts through the whole local pipeline.

    python -m bench.alert_to_order [--alerts 1000] [--runs 3] [--interval 0.05] [--history 20000] [--quick]
                                   [--no-handover]

What runs, as in the app on a local workspace: a private PostgreSQL with the shipped migrations,
the MT5 simulator as its own process, the webhook receiver on its own thread, the agent on its own
thread (trading through the simulator's MT5 API). While the agent is idle, an alert's own call
claims its job for it and the receiver hands it over in memory (``domain.handover``), as in the
app; ``--no-handover`` runs them as an agent in a process of its own does (woken by LISTEN/NOTIFY,
claiming every job itself). Alerts are posted over HTTP from another process, one every
``--interval`` seconds, each a risk-sized market order with a 20-pip stop. Each stage is read from
the rows the pipeline writes (``received_at``, ``logged_at``, ``jobs.created_at``, ``claimed_at``,
``sent_at``, the result's ``sent_at``/``filled_at``, ``completed_at``) plus clocks the harness adds
in the agent (notification arrived, agent woken, job handed over) and one in the alert sender's
process (the signal's last update notification arrived, as the signal log sees it). All clocks are
this machine's wall clock.

In the same run, the floor: the same stages with bare psycopg (insert and NOTIFY, a LISTEN
wake-up, a bare SKIP LOCKED claim, an intent update) — what the round trips alone cost here, at
the alerts' own pace (one every ``--interval``), so each of its steps wakes from the same idle as
the pipeline's do; also printed at five times that pace, as the floor was measured before.

The simulator starts with ``--history`` orders in its account's history (a full one).

Targets (issues 7 and 16): received → order sent p50 ≤ 5 ms and ≤ 2.5× the floor of the same run,
p99 ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import psycopg
from tnm_desktop.domain.handover import Handover
from tnm_desktop.webhook.config import ReceiverConfig
from tnm_desktop.webhook.server import WebhookReceiver

from bench import floor
from bench.common import (
    BenchDb,
    Summary,
    Trader,
    median_of,
    print_machine,
    private_database,
    seed_trader,
    start_bench_simulator,
    table,
)
from bench.common import verdict as said
from bench.harness import AgentHarness, CallClock, call_summary
from bench.poster import Posted, post_alerts

STAGES = (
    ("received → logged", "received", "logged"),
    ("logged → job created", "logged", "created"),
    ("job created → agent notified", "created", "notified"),
    ("agent notified → woken", "notified", "woken"),
    ("woken → claimed", "woken", "claimed"),
    ("claimed → intent recorded", "claimed", "intent"),
    # A job the receiver claimed in the alert's own call and handed to the idle agent in memory.
    ("job created → handed to the agent", "created", "handed"),
    ("handed to the agent → intent recorded", "handed", "intent"),
    ("intent recorded → order sent", "intent", "sent"),
    ("order sent → filled", "sent", "filled"),
    ("filled → job completed", "filled", "completed"),
    ("job completed → signal update seen", "completed", "seen"),
)
TOTALS = (
    ("received → order sent (target)", "received", "sent"),
    ("received → filled", "received", "filled"),
    ("end to end: received → signal update seen", "received", "seen"),
)

FLOOR_RATIO = 2.5
OPENS = "  of which opening trades (risk-sized)"
CLOSES = "  of which closes"

_TIMES = """
select s.id::text as signal, s.status, s.action, extract(epoch from s.received_at) as received,
       extract(epoch from s.logged_at) as logged, extract(epoch from j.created_at) as created,
       j.id::text as job, extract(epoch from j.claimed_at) as claimed, extract(epoch from j.sent_at) as intent,
       j.result ->> 'sent_at' as sent, j.result ->> 'filled_at' as filled,
       extract(epoch from j.completed_at) as completed
  from tv_signals s join jobs j on j.id = s.job_id
 where s.id = any(%s::uuid[])
"""


def _alerts(start: int, count: int) -> list[str]:
    # A strategy's entries and exits: a risk-sized market order with a 20-pip stop, then its close
    # (so the account's margin never runs out, however many alerts a run posts).
    return [json.dumps({"id": f"bench-{i}", "action": "buy", "symbol": "FX:EURUSD", "sl_pips": 20} if i % 2 == 0
                       else {"id": f"bench-{i}", "action": "close", "symbol": "FX:EURUSD"})
            for i in range(start, start + count)]


def _epoch(value: object) -> float:
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return float(value)  # type: ignore[arg-type]


def _wait_resolved(db: BenchDb, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(db.admin, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("select count(*) from tv_signals where id = any(%s::uuid[]) and status = 'pending'",
                               (ids,)).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.2)
    raise RuntimeError("some signals were not resolved in time")


def one_run(db: BenchDb, trader: Trader, receiver_url: str, agent: AgentHarness, start: int, count: int,
            interval: float) -> dict[str, list[float]]:
    """Post ``count`` alerts; return each stage's durations in milliseconds."""
    bodies = _alerts(start, count)
    with multiprocessing.Manager() as manager, ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = manager.Event()
        future = pool.submit(post_alerts, receiver_url, trader.secret, bodies, interval, db.admin, trader.user_id,
                             done)
        ids = _signal_ids(db, trader, start, count)
        while not future.done() and len(ids) < count:
            time.sleep(0.5)
            ids = _signal_ids(db, trader, start, count)
        _wait_resolved(db, ids, timeout=120)
        time.sleep(0.5)  # the last update notifications reach the listener
        done.set()
        posts, seen = future.result()
    return _stages(db, posts, seen, agent)


def _signal_ids(db: BenchDb, trader: Trader, start: int, count: int) -> list[str]:
    with psycopg.connect(db.admin, autocommit=True) as conn:
        rows = conn.execute("select id::text from tv_signals where strategy_id = %s and raw_payload ->> 'id' = "
                            "any(%s)", (trader.strategy_id, [f"bench-{i}" for i in range(start, start + count)]))
        return [str(r[0]) for r in rows]


def _stages(db: BenchDb, posts: list[Posted], seen: dict[str, float], agent: AgentHarness) -> dict[str, list[float]]:
    ids = [p.signal_id for p in posts if p.signal_id]
    with psycopg.connect(db.admin, autocommit=True) as conn:
        cur = conn.execute(_TIMES, (ids,))
        names = [d.name for d in cur.description or ()]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    out: dict[str, list[float]] = {name: [] for name, _, _ in (*STAGES, *TOTALS)}
    out["HTTP answer (as TradingView sees it)"] = [(p.answered - p.sent) * 1000 for p in posts]
    failed = 0
    for row in rows:
        if row["status"] != "executed":
            failed += 1
            continue
        t = {k: _epoch(row[k]) for k in ("received", "logged", "created", "claimed", "intent", "sent", "filled",
                                          "completed")}
        t["notified"] = agent.notified.get(row["job"], float("nan"))
        t["woken"] = agent.woken.get(row["job"], float("nan"))
        t["handed"] = agent.handed.get(row["job"], float("nan"))
        if t["handed"] == t["handed"]:  # claimed at ingestion: no wake-up, no claim of the agent's own
            t["notified"] = t["woken"] = t["claimed"] = float("nan")
        t["seen"] = seen.get(row["signal"], float("nan"))
        for name, a, b in (*STAGES, *TOTALS):
            value = (t[b] - t[a]) * 1000
            if value == value:  # a stage with no stamp (claimed before its wake-up arrived) is left out
                out[name].append(value)
        kind = OPENS if row["action"] != "close" else CLOSES
        out.setdefault(kind, []).append((t["sent"] - t["received"]) * 1000)
    if failed:
        print(f"  note: {failed} signals were not executed")
    return out


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=1000, help="alerts per run (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="repeated runs (default 3)")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between alerts (default 0.05)")
    parser.add_argument("--fast-db", action="store_true", help="fsync off (the default is the workspace's durable "
                                                                "commits)")
    parser.add_argument("--history", type=int, default=20_000,
                        help="orders already in the simulator's history (default 20,000: a full one)")
    parser.add_argument("--quick", action="store_true", help="one run of 300 alerts (under a minute)")
    parser.add_argument("--no-handover", action="store_true",
                        help="the agent claims every job itself, as an agent in a process of its own does")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.alerts, args.history = 1, 300, 2000

    with private_database("tnm-bench-a2o-", fast=args.fast_db) as db, tempfile.TemporaryDirectory() as work:
        print_machine(db.cluster)
        print(f"alert to order: {args.runs} runs × {args.alerts} alerts, one every {args.interval * 1000:.0f} ms, "
              f"{'fsync off' if args.fast_db else 'durable commits'}; {args.history:,} orders in the simulator's "
              "history\n")
        trader = seed_trader(db.admin)
        state, simulator = start_bench_simulator(Path(work), history=args.history)
        # The app's receiver, with the per-strategy rate limit opened up for the benchmark's pace,
        # sharing a hand-over with the agent as the app's do (--no-handover: as a separate process's).
        handover = None if args.no_handover else Handover()
        receiver = WebhookReceiver(ReceiverConfig(database_url=db.ingest, port=0, direct=True, rate_per_second=100_000,
                                                  burst=100_000), handover=handover)
        clock = CallClock()
        agent = AgentHarness(db, trader, state, Path(work) / "ea", clock=clock, handover=handover)
        try:
            url = receiver.start()
            agent.start()
            one_run(db, trader, url, agent, 0, 20, args.interval)  # warm-up: the first claim's bcrypt, caches
            clock.calls.clear()
            runs = [one_run(db, trader, url, agent, 1000 + r * args.alerts, args.alerts, args.interval)
                    for r in range(args.runs)]
            calls = list(clock.calls)
            # The floor at the alerts' own pace (each step wakes from the same idle as the
            # pipeline's), and at five times that pace, as runs before 2026-12-05 18:00 measured it.
            floors = floor.measure(db, count=args.alerts, interval=args.interval)
            brisk = floor.measure(db, count=args.alerts, interval=args.interval / 5)
        finally:
            agent.stop()
            receiver.stop()
            simulator.stop()
    report(runs, floors, brisk, calls, args.interval)
    total = sum(len(run.get(TOTALS[0][0], [])) for run in runs)
    print(f"\njobs the receiver claimed and handed over to the idle agent: {len(agent.handed)} "
          f"(with the warm-up's), of {total} executed" + (" (--no-handover)" if args.no_handover else ""))


def report(runs: list[dict[str, list[float]]], floors: dict[str, list[float]], brisk: dict[str, list[float]],
           calls: list[tuple[str, float, float]], interval: float) -> None:
    """Print every stage (median over runs of each run's percentiles), the target and the floor."""
    names = [name for name, _, _ in STAGES] + [TOTALS[0][0], OPENS, CLOSES] + [name for name, _, _ in TOTALS[1:]]
    names.append("HTTP answer (as TradingView sees it)")
    rows = []
    for name in names:
        s = median_of([Summary.of(run.get(name, [])) for run in runs])
        rows.append((name, s.n, s.p50, s.p95, s.p99, s.max))
    print(table(("stage (ms; median of the runs' percentiles)", "n", "p50", "p95", "p99", "max"), rows))
    target = [Summary.of(run["received → order sent (target)"]) for run in runs]
    p50s = [s.p50 for s in target]
    p99s = [s.p99 for s in target]
    print(f"\nper run, received → order sent: p50 {', '.join(f'{v:.2f}' for v in p50s)} ms; "
          f"p99 {', '.join(f'{v:.2f}' for v in p99s)} ms")
    p50, p99 = statistics.median(p50s), statistics.median(p99s)
    print(f"target p50 ≤ 5 ms: {p50:.2f} ms {said(p50 <= 5)}; target p99 ≤ 20 ms: {p99:.2f} ms {said(p99 <= 20)}")
    print("\nthe floor on this machine, same database, same run (bare psycopg, no RLS, no key check), "
          f"one insert every {interval * 1000:.0f} ms as the alerts came:")
    floor_rows = [(name, *(lambda s: (s.n, s.p50, s.p95, s.p99, s.max))(Summary.of(values)))
                  for name, values in floors.items()]
    print(table(("floor stage (ms)", "n", "p50", "p95", "p99", "max"), floor_rows))
    bare = Summary.of(floors[floor.TOTAL])
    ratio = p50 / bare.p50
    print(f"\nratio, pipeline / floor, received → order sent: p50 {ratio:.1f}× (target ≤ {FLOOR_RATIO}×: "
          f"{said(ratio <= FLOOR_RATIO)}), p99 {p99 / bare.p99:.1f}×")
    warm = Summary.of(brisk[floor.TOTAL])
    print(f"the floor at five times the pace (one insert every {interval * 200:.0f} ms: less idle between steps): "
          f"p50 {warm.p50:.2f} ms, p99 {warm.p99:.2f} ms; the pipeline is {p50 / warm.p50:.1f}× that p50")
    print("\nthe agent's calls, timed where it makes them (every run; ms):")
    print(table(("call", "n", "p50", "p95", "p99", "max"),
                [(name, *(lambda s: (s.n, s.p50, s.p95, s.p99, s.max))(Summary.of(values)))
                 for name, values in call_summary(calls)]))


if __name__ == "__main__":
    main()
