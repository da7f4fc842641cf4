"""A burst: 2,000 alerts waiting at once for one agent on the simulator.

    python -m bench.burst [--alerts 2000] [--history 20000] [--quick]

What runs, as in the app on a local workspace: a private PostgreSQL (durable commits), the
simulator as its own process with ``--history`` orders already in its account, the receiver and
the agent on their threads. The agent is paused while the alerts are posted over HTTP (four
symbols, each alternately a risk-sized buy with a 20-pip stop and its close), then resumed: it
faces the whole burst at once, the hardest case for the 2-minute staleness limit.

It prints trades per second, whether any alert went stale, whether each symbol's trades went
out in the order their alerts arrived, and what the agent adds to each trade beyond the
terminal's own ``order_send``: its calls to the database (claim, intent, completion) and to the
terminal (sizing reads and the calls around the order), timed where they are made.

Targets (issue 16): ≥ 100 trades a second; the agent's own cost ≤ 2 ms a trade beyond
``order_send``; no alert stale.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import psycopg
from tnm_desktop.domain.handover import Handover
from tnm_desktop.domain.trade import STALE_REASON
from tnm_desktop.webhook.config import ReceiverConfig
from tnm_desktop.webhook.server import WebhookReceiver

from bench.common import (
    BenchDb,
    Trader,
    print_machine,
    private_database,
    seed_trader,
    start_bench_simulator,
    table,
    verdict,
)
from bench.harness import DATA_CALLS, AgentHarness, CallClock
from bench.poster import post_alerts

SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD")
TARGET_RATE = 100.0
TARGET_OWN_MS = 2.0

_ROWS = """
select s.id::text, s.status, s.symbol, s.action, s.error_message, j.id::text as job,
       extract(epoch from j.created_at) as created, extract(epoch from j.claimed_at) as claimed,
       extract(epoch from j.sent_at) as intent, j.result ->> 'sent_at' as sent,
       extract(epoch from j.completed_at) as completed
  from tv_signals s join jobs j on j.id = s.job_id
 where s.strategy_id = %s and s.raw_payload ->> 'id' like %s
 order by s.received_at, s.id
"""


def alerts(prefix: str, count: int) -> list[str]:
    """``count`` alerts over four symbols: on each, a risk-sized buy with a stop, then its close, and so on."""
    out = []
    for i in range(count):
        symbol, turn = SYMBOLS[i % len(SYMBOLS)], i // len(SYMBOLS)
        body: dict[str, object] = {"id": f"{prefix}-{i}", "symbol": f"FX:{symbol}"}
        # 20 pips, or 20 dollars on gold (whose broker wants a stop 50 points away at least)
        stop = 200 if symbol == "XAUUSD" else 20
        body |= {"action": "buy", "sl_pips": stop} if turn % 2 == 0 else {"action": "close"}
        out.append(json.dumps(body))
    return out


def _post(url: str, trader: Trader, db: BenchDb, bodies: list[str]) -> None:
    with multiprocessing.Manager() as manager, ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = manager.Event()
        done.set()  # no need to watch the updates: the rows have every time this benchmark reads
        posts, _ = pool.submit(post_alerts, url, trader.secret, bodies, 0.0, db.admin, trader.user_id,
                               done).result()
    refused = [p for p in posts if p.status >= 300]
    if refused:
        raise RuntimeError(f"{len(refused)} alerts were refused by the receiver (first: HTTP {refused[0].status})")


def _rows(db: BenchDb, trader: Trader, prefix: str) -> list[dict[str, object]]:
    with psycopg.connect(db.admin, autocommit=True) as conn:
        cur = conn.execute(_ROWS, (trader.strategy_id, f"{prefix}-%"))
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _wait(db: BenchDb, trader: Trader, prefix: str, count: int, *, resolved: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    query = ("select count(*) from tv_signals where strategy_id = %s and raw_payload ->> 'id' like %s"
             + (" and status <> 'pending'" if resolved else ""))
    with psycopg.connect(db.admin, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(query, (trader.strategy_id, f"{prefix}-%")).fetchone()
            if row is not None and row[0] >= count:
                return
            time.sleep(0.2)
    raise RuntimeError(f"the burst was not {'resolved' if resolved else 'logged'} in {timeout:.0f} s")


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of another process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _epoch(value: object) -> float:
    return datetime.fromisoformat(value).timestamp() if isinstance(value, str) else float(value)  # type: ignore[arg-type]


def report(rows: list[dict[str, object]], calls: list[tuple[str, float, float]], span: float, cpu: float,
           simulator_cpu: float) -> bool:
    """Print the burst's figures; return whether every target was met."""
    n = len(rows)
    executed = [r for r in rows if r["status"] == "executed"]
    stale = [r for r in rows if str(r["error_message"] or "").startswith(STALE_REASON)]
    other = [r for r in rows if r["status"] != "executed" and r not in stale]
    rate = len(executed) / span
    waits = [(float(r["claimed"]) - float(r["created"])) for r in rows if r["claimed"] is not None]  # type: ignore[arg-type]
    by_symbol: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in executed:
        if r["sent"] is not None:  # a close with nothing to close sends nothing
            by_symbol[str(r["symbol"])].append(r)
    failures = statistics.Counter(f"{r['symbol']} {r['action']}: {r['error_message']}" for r in other)  # type: ignore[attr-defined]
    for what, count in failures.most_common(5):
        print(f"  failed ×{count}: {what}")
    in_order = all([_epoch(r["sent"]) for r in sorted(rs, key=lambda r: float(r["created"]))]  # type: ignore[arg-type]
                   == sorted(_epoch(r["sent"]) for r in rs) for rs in by_symbol.values())

    per: dict[str, list[float]] = defaultdict(list)
    for name, start, end in calls:
        per[name].append((end - start) * 1000)
    order_calls = [(s, e) for name, s, e in calls if name in ("send_market_order", "close_position")]

    def inside_order(start: float, end: float) -> bool:
        return any(s <= start and end <= e for s, e in order_calls)

    outside_reads = sum((e - s) * 1000 for name, s, e in calls
                        if name in ("symbol", "quote", "account", "positions", "position", "find_by_token")
                        and not inside_order(s, e))
    mt5_calls = [name for name, _, _ in calls if name.startswith("mt5.")]
    sends = per.get("mt5.order_send", [])
    wall = span * 1000 / len(executed)
    order_send = statistics.fmean(sends) if sends else float("nan")
    around = sum(per.get(k, [0.0])[i] for k in ("send_market_order", "close_position")
                 for i in range(len(per.get(k, [])))) - sum(sends)
    database = {name: sum(per.get(name, [])) / n for name in DATA_CALLS if per.get(name)}
    own = wall - order_send
    rows_out: list[tuple[object, ...]] = [
        ("alerts in the burst", n, ""),
        ("executed", len(executed), ""),
        ("refused as stale (older than 2 minutes when their turn came)", len(stale), ""),
        ("failed otherwise", len(other), (str(other[0]["error_message"]) if other else "")[:60]),
        ("trades per second (from resuming to the last completion)", rate, verdict(rate >= TARGET_RATE)),
        ("longest wait, created → claimed (s)", max(waits, default=float("nan")), ""),
        ("each symbol's trades sent in arrival order", "yes" if in_order else "NO", ""),
        ("wall time per trade (ms)", wall, ""),
        ("  the terminal's order_send (ms)", order_send, ""),
        ("  the agent's own: wall − order_send (ms)", own, verdict(own <= TARGET_OWN_MS)),
        *((f"    database: {name} (ms a trade)", value, "") for name, value in database.items()),
        ("    terminal: sizing reads, outside the order call (ms a trade)", outside_reads / n, ""),
        ("    terminal: calls around order_send in the order call (ms a trade)", around / n, ""),
        ("    MetaTrader 5 calls a trade (all functions)", len(mt5_calls) / n, ""),
        ("CPU a trade: this process (agent, receiver idle) (ms)", cpu * 1000 / n, ""),
        ("CPU a trade: the simulator process (ms)", simulator_cpu * 1000 / n, ""),
    ]
    print(table(("burst", "value", "target"), rows_out))
    counted = statistics.Counter(mt5_calls)  # type: ignore[attr-defined]
    print("\nMetaTrader 5 calls a trade, by function: " + ", ".join(
        f"{name.removeprefix('mt5.')} {count / n:.2f}" for name, count in counted.most_common()))
    return rate >= TARGET_RATE and own <= TARGET_OWN_MS and not stale and not other and in_order


def main() -> None:
    """Run the burst and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=2000, help="alerts in the burst (default 2000)")
    parser.add_argument("--history", type=int, default=20_000,
                        help="orders already in the simulator's history (default 20,000)")
    parser.add_argument("--quick", action="store_true", help="400 alerts, 2,000 orders of history (under a minute)")
    args = parser.parse_args()
    if args.quick:
        args.alerts, args.history = 400, 2000
    with private_database("tnm-bench-burst-") as db, tempfile.TemporaryDirectory() as work:
        print_machine(db.cluster)
        print(f"burst: {args.alerts:,} alerts waiting at once; {args.history:,} orders in the simulator's history\n")
        trader = seed_trader(db.admin)
        state, simulator = start_bench_simulator(Path(work), history=args.history)
        handover = Handover()  # the receiver and the agent share one, as in the app
        receiver = WebhookReceiver(ReceiverConfig(database_url=db.ingest, port=0, direct=True, rate_per_second=100_000,
                                                  burst=100_000), handover=handover)
        clock = CallClock()
        agent = AgentHarness(db, trader, state, Path(work) / "ea", clock=clock, handover=handover)
        try:
            url = receiver.start()
            agent.start()
            _post(url, trader, db, alerts("warm", 8))  # the first claim's key check, caches
            _wait(db, trader, "warm", 8, resolved=True, timeout=120)
            agent.pause()
            time.sleep(0.5)
            _post(url, trader, db, alerts("burst", args.alerts))
            _wait(db, trader, "burst", args.alerts, resolved=False, timeout=120)
            clock.calls.clear()
            cpu, simulator_cpu = _own_cpu(), _cpu_of(simulator.process.pid)
            resumed = time.time()
            agent.resume()
            _wait(db, trader, "burst", args.alerts, resolved=True, timeout=900)
            cpu, simulator_cpu = _own_cpu() - cpu, _cpu_of(simulator.process.pid) - simulator_cpu
            rows = _rows(db, trader, "burst")
        finally:
            agent.stop()
            receiver.stop()
            simulator.stop()
    last = max(float(r["completed"]) for r in rows if r["completed"] is not None)  # type: ignore[arg-type]
    met = report(rows, list(clock.calls), last - resumed, cpu, simulator_cpu)
    print(f"\nall targets: {verdict(met)}")


if __name__ == "__main__":
    main()
