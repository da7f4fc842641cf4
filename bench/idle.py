"""Measurement 5 — idle cost: database queries and CPU of an agent with nothing to do.

    python -m bench.idle [--minutes 5]

The real agent as the app runs it on a local workspace — its own thread and event loop, the
:class:`LocalAdapter`, LISTEN/NOTIFY for new jobs, the app's default timings (a heartbeat every
15 s, an account sync every 60 s) — trading through the simulator in its own process. No job
arrives. Every minute:

- **queries**: statements the agent's connections sent, counted by ``pg_stat_statements``
  (preloaded in the private cluster for this benchmark) for the roles the agent uses
  (``authenticator``, which it connects as, and ``authenticated``, which its statements run as).
  Top-level statements only (its default ``track = top``): what crossed the socket, not the SQL
  functions' inner statements. The benchmark's own readings run as the superuser and are not
  counted.
- **CPU**: the process's user + system time (``getrusage``; the process holds only the agent and
  this sampling loop), the agent loop's own thread (``/proc/self/task/<tid>/stat``), and the
  simulator process (``/proc/<pid>/stat``: the terminal's share, which a real MetaTrader 5 would
  have instead).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import psycopg
from tnm_desktop.agent.worker import AgentSettings

from bench.common import BenchDb, print_machine, private_database, seed_trader, start_bench_simulator, table
from bench.harness import AgentHarness

_TICK = os.sysconf("SC_CLK_TCK")
_ROLES = "('authenticator', 'authenticated')"
_CALLS = (f"select coalesce(sum(calls), 0)::bigint from extensions.pg_stat_statements s "
          f"join pg_roles r on r.oid = s.userid where r.rolname in {_ROLES}")
_BY_STATEMENT = (f"select r.rolname, sum(calls)::bigint, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
                 f"from extensions.pg_stat_statements s join pg_roles r on r.oid = s.userid "
                 f"where r.rolname in {_ROLES} group by 1, 3 order by 2 desc")


def _enable_pg_stat_statements(db: BenchDb) -> None:
    with psycopg.connect(db.admin, autocommit=True) as conn:
        conn.execute("alter system set shared_preload_libraries = 'pg_stat_statements'")
    db.cluster.stop()
    db.cluster.start()
    with psycopg.connect(db.admin, autocommit=True) as conn:
        conn.execute("create extension if not exists pg_stat_statements with schema extensions")


def _cpu_seconds(stat: Path) -> float:
    # utime and stime, fields 14 and 15; the command name (field 2) may hold spaces.
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5, help="how long to watch (default 5)")
    parser.add_argument("--settle", type=float, default=10, help="seconds after start-up before counting "
                                                                  "(default 10)")
    args = parser.parse_args()
    minute = 60.0 if args.minutes >= 1 else args.minutes * 60

    with private_database("tnm-bench-idle-") as db, tempfile.TemporaryDirectory() as work:
        _enable_pg_stat_statements(db)
        print_machine(db.cluster)
        print(f"idle agent: {args.minutes:g} minutes, the app's timings (heartbeat every "
              f"{AgentSettings().heartbeat_every:g} s, account sync every {AgentSettings().sync_every:g} s)\n")
        trader = seed_trader(db.admin)
        state, simulator = start_bench_simulator(Path(work))
        agent = AgentHarness(db, trader, state, Path(work) / "ea", settings=AgentSettings())
        rows = []
        statements: list[tuple[object, ...]] = []
        try:
            agent.start()
            time.sleep(args.settle)
            assert agent.thread_id is not None
            thread_stat = Path(f"/proc/self/task/{agent.thread_id}/stat")
            simulator_stat = Path(f"/proc/{simulator.process.pid}/stat")
            with psycopg.connect(db.admin, autocommit=True) as conn:
                conn.execute("select extensions.pg_stat_statements_reset()")
                start = time.monotonic()
                last = (0, _process_cpu(), _cpu_seconds(thread_stat), _cpu_seconds(simulator_stat))
                elapsed = 0.0
                while elapsed < args.minutes * 60 - 1e-6:
                    step = min(minute, args.minutes * 60 - elapsed)
                    elapsed += step
                    time.sleep(max(0.0, start + elapsed - time.monotonic()))
                    row = conn.execute(_CALLS).fetchone()
                    assert row is not None
                    now = (int(row[0]), _process_cpu(), _cpu_seconds(thread_stat), _cpu_seconds(simulator_stat))
                    per = 60 / step
                    rows.append((f"{elapsed / 60:.1f}", (now[0] - last[0]) * per, (now[1] - last[1]) * per * 1000,
                                 (now[2] - last[2]) * per * 1000, (now[3] - last[3]) * per * 1000))
                    last = now
                statements = conn.execute(_BY_STATEMENT).fetchall()
        finally:
            agent.stop()
            simulator.stop()
    report(rows, statements)


def report(rows: list[tuple[str, float, float, float, float]], statements: list[tuple[object, ...]]) -> None:
    """Print the per-minute figures, their mean and what the statements were."""
    print(table(("minute", "queries/min", "process CPU ms/min", "agent thread ms/min", "simulator ms/min"), rows))
    n = len(rows)
    if n:
        mean = [sum(r[i] for r in rows) / n for i in range(1, 5)]  # type: ignore[misc]
        print(f"\nmean: {mean[0]:.1f} queries/min; CPU {mean[1]:.0f} ms/min for the agent's process "
              f"({mean[1] / 600:.2f} % of one core), {mean[2]:.0f} ms/min on the agent's loop thread, "
              f"{mean[3]:.0f} ms/min in the simulator")
    print("\nstatements over the whole period (pg_stat_statements, the agent's roles):")
    print(table(("role", "calls", "statement"), [(r[0], r[1], r[2]) for r in statements]))


if __name__ == "__main__":
    main()
