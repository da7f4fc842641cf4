"""Trailing stops: from a new price to the moved stop at the broker, and to its record in the database.

    python -m bench.stop_latency [--moves 30] [--every 0.2,0.05] [--fast-db] [--quick]

The agent runs as the app runs it (its own thread and loop, the runner the app composes) against
the simulator as its own process (``simulator serve``), on a private PostgreSQL. One position is
opened by an alert with a trailing stop (``trailtrig=1,traildist=5``); then, ``--moves`` times,
the bid is moved 8 pips up (``hold_price``) and the clock runs until the simulator reports the
position's stop changed (its ``time_update_msc``, the trade server's own stamp) and the change's
event is in ``position_rule_events`` (its ``at``). Each move waits out the manager's rate limit
(one change per position a second) first, so the figures are the path's own.

For each ``--every`` (how often the manager looks at the prices, the app's default 0.2 s) it
prints the percentiles, in ms, of tick → stop at the broker and tick → recorded.
"""

from __future__ import annotations

import argparse
import time

import psycopg
from tests.must import must
from tnm_desktop.terminal.simulator.client import RemoteMt5

from bench.common import (
    Summary,
    print_machine,
    private_database,
    scratch_dir,
    seed_trader,
    start_bench_simulator,
    table,
)
from bench.harness import AgentHarness

SYMBOL = "EURUSD.m"
STEP = 0.0008  # 8 pips a move: every move trails the stop (distance 5 pips, no step)


def _wait(check: object, what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {within} s")
        time.sleep(0.002)


def run(every: float, moves: int, fast_db: bool) -> tuple[Summary, Summary]:
    """One agent with ``every`` between looks; return (tick → broker, tick → recorded) in ms."""
    with private_database("tnm-bench-stops-", fast=fast_db) as db:
        work = scratch_dir("tnm-bench-stops-sim-")
        state, simulator = start_bench_simulator(work)
        trader = seed_trader(db.admin)
        harness = AgentHarness(db, trader, state, work / "ea", runner_options={"stops": {"every": every}})
        sim = RemoteMt5(state)
        try:
            assert sim.initialize()
            offset_ms = sim.control.server_offset() * 1000
            bid = 1.08500
            sim.control.hold_price(SYMBOL, bid)
            harness.start()
            with psycopg.connect(db.admin, autocommit=True) as conn:
                conn.execute("select * from ingest_tv_signal(%s, %s)",
                             (trader.secret, "6012,buy,EURUSD,vol_lots=0.1,trailtrig=1,traildist=5"))
                _wait(lambda: conn.execute("select count(*) from position_rules where state = 'active'"
                                           ).fetchone() == (1,), "the rule")
                (position,) = must(sim.positions_get(symbol=SYMBOL))
                broker, recorded = [], []
                for move in range(moves):
                    time.sleep(1.1)  # the manager changes one position at most once a second
                    bid = round(bid + STEP, 5)
                    tick = time.time()
                    sim.control.hold_price(SYMBOL, bid)
                    wanted = round(bid - 0.0005, 5)
                    _wait(lambda wanted=wanted: must(sim.positions_get(ticket=position.ticket))[0].sl == wanted,
                          f"move {move}")
                    moved = (must(sim.positions_get(ticket=position.ticket))[0].time_update_msc - offset_ms) / 1000
                    _wait(lambda move=move: conn.execute("select count(*) from position_rule_events"
                                                         ).fetchone() == (move + 1,), f"record {move}")
                    at = conn.execute("select extract(epoch from max(at)) from position_rule_events").fetchone()
                    assert at is not None
                    broker.append((moved - tick) * 1000)
                    recorded.append((float(at[0]) - tick) * 1000)
            return Summary.of(broker), Summary.of(recorded)
        finally:
            harness.stop()
            sim.close()
            simulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=30, help="price moves per run (default 30)")
    parser.add_argument("--every", default="0.2,0.05", help="the manager's look intervals to compare, in s")
    parser.add_argument("--fast-db", action="store_true", help="fsync off (the tests' setting)")
    parser.add_argument("--quick", action="store_true", help="5 moves, the default interval only")
    args = parser.parse_args()
    intervals = [0.2] if args.quick else [float(x) for x in args.every.split(",")]
    moves = 5 if args.quick else args.moves
    print_machine()
    rows = []
    for every in intervals:
        broker, recorded = run(every, moves, args.fast_db)
        for name, summary in ((f"every {every:g} s: tick → stop at the broker", broker),
                              (f"every {every:g} s: tick → change recorded", recorded)):
            rows.append((name, summary.n, summary.p50, summary.p95, summary.max))
    print(table(["ms", "n", "p50", "p95", "max"], rows))


if __name__ == "__main__":
    main()

