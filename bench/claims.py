"""Measurement 2 — claims per second with 1, 2, 4 and 8 agents, against procrastinate.

    python -m bench.claims [--jobs 2000] [--agents 1,2,4,8] [--rounds 3] [--quick]

``--jobs`` is per queue, concurrency and round: by default 3 rounds × 2,000 jobs at each of the
four concurrencies, 24,000 jobs per queue, ~5 minutes in all on a 2-core machine. Short rounds,
the four queues back to back, keep each comparison inside one stretch of the machine's load;
ratios are taken within a round, then the median over the rounds.

Every worker is its own process with its own connections; all of them start together and claim +
complete no-op jobs until the queue is empty. Four queues run on the same database in the same
run, one after another at each concurrency (the order rotates so drift spreads evenly):

- **app**: the agent's own path, :class:`LocalAdapter.claim_job` once, then
  :meth:`complete_and_claim` for every job — one round trip and one commit a job as the
  signed-in user: ``complete_and_claim_next_with_limits(agent, key, job, token)`` checks the pairing
  key and the lease token, completes the job, sweeps expired leases and claims the next one (an
  entry would come with its risk limits; these no-op jobs are not entries). Each worker
  is a separately paired agent of one trader, so they race for the same jobs.
- **app without key check**: the same, through copies of the functions made from the
  installed ones with only ``require_agent`` taken out — the difference is what the key check
  costs.
- **bare SQL, two trips**: a single-row ``UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED
  LIMIT 1)`` claim and an ``UPDATE`` complete on the same table, autocommit, as the superuser:
  the floor of a queue that claims and completes in separate calls (as procrastinate does).
- **procrastinate** (``pip install -e '.[bench]'``): the same number of no-op jobs, one worker
  process per agent with ``concurrency=1``, in a schema of its own in the same database.

Afterwards every job must be completed with ``attempts = 1`` and the ids the workers claimed must
all differ (no double claim). Target (issues 7, 16): app ≥ 3× procrastinate at every concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import secrets
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import quote

import psycopg
from psycopg import sql
from tnm_desktop.data.local.adapter import LocalAdapter
from tnm_desktop.data.local.queries import _json
from tnm_desktop.domain import AgentCredentials, ClaimedJob, Session

from bench.common import BenchDb, Trader, pairing_hashes, print_machine, private_database, seed_trader, table
from bench.common import verdict as said

APP = "app (complete_and_claim_next_with_limits)"
NOKEY = "app without key check"
BARE = "bare SQL, two trips"
PROCRASTINATE = "procrastinate"
SYSTEMS = (APP, NOKEY, BARE, PROCRASTINATE)
SCHEMA = "procrastinate"
_TICK = os.sysconf("SC_CLK_TCK")

# What the bench copies of the four functions are made from: only the key check is taken out.
_NOKEY_EDITS = {name: ("v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);",
                        "v_user uuid := (select auth.uid());")
               for name in ("claim_next_job", "complete_and_claim_next", "claim_next_job_with_limits",
                            "complete_and_claim_next_with_limits")}

_BARE_CLAIM: LiteralString = """
update public.jobs j
   set status = 'running', agent_id = %(agent)s, claimed_at = now(), started_at = coalesce(j.started_at, now()),
       attempts = j.attempts + 1, lease_token = gen_random_uuid(), lease_expires_at = now() + interval '60 s'
 where j.id = (select c.id from public.jobs c
                where c.user_id = %(user)s and c.status = 'pending' and c.available_at <= now()
                  and (c.target_agent_id is null or c.target_agent_id = %(agent)s)
                order by c.created_at, c.seq for update skip locked limit 1)
returning j.id::text, j.lease_token
"""
_BARE_COMPLETE: LiteralString = """
update public.jobs set status = 'completed', result = '{}', completed_at = clock_timestamp(), lease_token = null,
       lease_expires_at = null
 where id = %s and agent_id = %s and lease_token = %s and status = 'running'
returning id
"""


@dataclass(frozen=True)
class Worker:
    """What one worker process needs."""

    system: str
    app_url: str
    auth_url: str
    admin_url: str
    procrastinate_url: str
    user_id: str
    email: str
    agent_id: str
    key: str
    meter_url: str  # the superuser, unnamed: to find and read the worker's own server processes
    name: str  # the worker's application_name


@dataclass(frozen=True)
class Outcome:
    """One worker's run: when it started and finished (wall clock), what it claimed, its CPU."""

    started: float
    finished: float
    claimed: list[str]
    client_cpu: float  # seconds, the worker process
    server_cpu: float  # seconds, its PostgreSQL backends


class _Meter:
    """CPU seconds of this process and of the server processes serving it (``/proc``).

    The server processes are looked up before the start (``prepare``): the look-up is a new
    connection, 7–57 ms at 8 workers on 2 cores (measured 2026-12-07), which inside the timed
    window counted against the app and the bare SQL (procrastinate's window starts at its first
    job). Processes that appear later are looked up again at the stop and counted whole.
    """

    def __init__(self, spec: Worker) -> None:
        self._spec = spec
        self._pids: list[int] = []
        self._server: dict[int, float] = {}
        self._client = 0.0

    def _find(self) -> list[int]:
        with psycopg.connect(self._spec.meter_url, autocommit=True) as conn:
            return [int(r[0]) for r in conn.execute("select pid from pg_stat_activity where application_name = %s",
                                                    (self._spec.name,))]

    @staticmethod
    def _cpu(pids: Sequence[int]) -> dict[int, float]:
        out = {}
        for pid in pids:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                out[pid] = (int(fields[11]) + int(fields[12])) / _TICK
        return out

    def prepare(self) -> None:
        self._pids = self._find()

    def start(self) -> None:
        self._server = self._cpu(self._pids)
        self._client = time.process_time()

    def stop(self) -> tuple[float, float]:
        client = time.process_time() - self._client
        now = self._cpu(self._find())
        return client, sum(cpu - self._server.get(pid, 0.0) for pid, cpu in now.items())


# ------------------------------------------------------------------------------------------------
# The workers (each in its own process)


def _work(spec: Worker, barrier: Barrier, results: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("procrastinate").setLevel(logging.ERROR)  # "App is instantiated in __main__"
    if spec.system == BARE:
        results.put(_bare(spec, barrier))
    elif spec.system == PROCRASTINATE:
        results.put(asyncio.run(_procrastinate(spec, barrier)))
    else:
        results.put(asyncio.run(_app(spec, barrier)))


async def _app(spec: Worker, barrier: Barrier) -> Outcome:
    class NoKeyAdapter(LocalAdapter):
        # The same calls, through the copies without the key check.
        async def claim_job(self, creds: AgentCredentials, lease_seconds: int = 60) -> ClaimedJob | None:
            row = await self._db.row("select (c.job).*, c.risk_state from bench_claims.claim_next_job_with_limits("
                                     "%s, %s, %s) c", (creds.agent_id, creds.key, lease_seconds))
            return ClaimedJob.from_row(row) if row else None

        async def complete_and_claim(self, creds: AgentCredentials, claimed: ClaimedJob, result: dict[str, Any],
                                     lease_seconds: int = 60) -> ClaimedJob | None:
            row = await self._db.row("select (c.job).*, c.risk_state from "
                                     "bench_claims.complete_and_claim_next_with_limits(%s, %s, %s, %s, %s, %s) c",
                                     (creds.agent_id, creds.key, claimed.job.id, claimed.lease_token,
                                      _json(result), lease_seconds))
            return ClaimedJob.from_row(row) if row else None

    kind = NoKeyAdapter if spec.system == NOKEY else LocalAdapter
    data = kind(spec.app_url, spec.auth_url, "bench-claims")
    data.act_as(Session(spec.user_id, spec.email, "local"))
    creds = AgentCredentials(spec.agent_id, spec.key)
    claimed: list[str] = []
    meter = _Meter(spec)
    try:
        await data.ping()  # the pool's connection is open before the start
        await asyncio.to_thread(meter.prepare)
        await asyncio.to_thread(barrier.wait)
        started = time.time()
        meter.start()
        job = await data.claim_job(creds)
        while job is not None:  # as the agent's loop: each completion brings the next job
            claimed.append(job.job.id)
            job = await data.complete_and_claim(creds, job, {})
        finished = time.time()
        return Outcome(started, finished, claimed, *await asyncio.to_thread(meter.stop))
    finally:
        await data.close()


def _bare(spec: Worker, barrier: Barrier) -> Outcome:
    claimed: list[str] = []
    meter = _Meter(spec)
    with psycopg.connect(spec.admin_url, autocommit=True) as conn:
        meter.prepare()
        barrier.wait()
        started = time.time()
        meter.start()
        params = {"agent": spec.agent_id, "user": spec.user_id}
        while (row := conn.execute(_BARE_CLAIM, params).fetchone()) is not None:
            claimed.append(row[0])
            done = conn.execute(_BARE_COMPLETE, (row[0], spec.agent_id, row[1])).fetchone()
            assert done is not None
        finished = time.time()
        return Outcome(started, finished, claimed, *meter.stop())


async def _procrastinate(spec: Worker, barrier: Barrier) -> Outcome:
    import procrastinate  # installed for the benchmark only (the bench extra)

    claimed: list[str] = []
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=spec.procrastinate_url))

    @app.task(name="noop", queue="bench", pass_context=True)  # type: ignore[untyped-decorator, unused-ignore]  # bench extra may be absent
    async def noop(context: procrastinate.JobContext) -> None:
        assert context.job is not None
        claimed.append(str(context.job.id))

    meter = _Meter(spec)
    async with app.open_async():
        await app.connector.execute_query_async("select 1")
        await asyncio.to_thread(meter.prepare)
        await asyncio.to_thread(barrier.wait)
        started = time.time()
        meter.start()
        await app.run_worker_async(queues=["bench"], concurrency=1, wait=False, install_signal_handlers=False,
                                   delete_jobs="never")
        finished = time.time()
        return Outcome(started, finished, claimed, *await asyncio.to_thread(meter.stop))


# ------------------------------------------------------------------------------------------------
# Set-up and checks (the main process)


def _procrastinate_url(db: BenchDb) -> str:
    return db.admin + "&options=" + quote(f"-c search_path={SCHEMA}", safe="")


def _pair_agents(db: BenchDb, trader: Trader, count: int) -> list[tuple[str, str]]:
    # The trader's agent plus more paired agents of the same trader: they all race for one queue.
    agents = [(trader.agent_id, trader.key)]
    with psycopg.connect(db.admin, autocommit=True) as conn:
        for i in range(1, count):
            key = "pk_" + secrets.token_hex(32)
            hashes = pairing_hashes(key)
            row = conn.execute("insert into mt5_agents (user_id, name, machine_name, terminal_path, pairing_key_hash, "
                               "pairing_key_sha256, pairing_key_prefix) values (%s, %s, 'bench', 'simulator:', %s, %s, "
                               "%s) returning id::text",
                               (trader.user_id, f"bench-{i}", hashes.bcrypt, hashes.sha256, hashes.prefix)).fetchone()
            assert row is not None
            agents.append((row[0], key))
    return agents


def _install(db: BenchDb) -> None:
    with psycopg.connect(db.admin, autocommit=True) as conn:
        conn.execute("create schema if not exists bench_claims")
        for name, (old, new) in _NOKEY_EDITS.items():
            # The privileged body (in tnm_privileged, or in public before it moved there).
            row = conn.execute("select n.nspname, pg_get_functiondef(p.oid) from pg_proc p join pg_namespace n "
                               "on n.oid = p.pronamespace where n.nspname in ('tnm_privileged', 'public') "
                               "and p.proname = %s and p.prosecdef", (name,)).fetchone()
            assert row is not None
            schema, source = str(row[0]), str(row[1])
            assert old in source, f"{name} changed: update the benchmark's copy"
            source = source.replace(old, new).replace(f"FUNCTION {schema}.{name}(", f"FUNCTION bench_claims.{name}(")
            conn.execute(source.encode())
        conn.execute("grant usage on schema bench_claims to authenticated")
        conn.execute("grant execute on all functions in schema bench_claims to authenticated")
        conn.execute(f"create schema if not exists {SCHEMA}")
    import procrastinate

    logging.getLogger("procrastinate").setLevel(logging.ERROR)
    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=_procrastinate_url(db)))
    with app.open():
        app.schema_manager.apply_schema()


def _enqueue(db: BenchDb, trader: Trader, system: str, jobs: int) -> None:
    # procrastinate's triggers name its tables without a schema: its own search_path.
    with psycopg.connect(_procrastinate_url(db), autocommit=True) as conn:
        if system == PROCRASTINATE:
            conn.execute(f"insert into {SCHEMA}.procrastinate_jobs (queue_name, task_name) "
                         "select 'bench', 'noop' from generate_series(1, %s)", (jobs,))
        else:
            conn.execute("insert into public.jobs (user_id, job_type, payload) "
                         "select %s, 'test', '{}' from generate_series(1, %s)", (trader.user_id, jobs))


def _clear(db: BenchDb) -> None:
    with psycopg.connect(_procrastinate_url(db), autocommit=True) as conn:
        conn.execute("delete from public.jobs")
        conn.execute(f"delete from {SCHEMA}.procrastinate_jobs")
        for name in ("public.jobs", f"{SCHEMA}.procrastinate_jobs", f"{SCHEMA}.procrastinate_events"):
            conn.execute(f"vacuum analyze {name}")


def _check(db: BenchDb, system: str, jobs: int, outcomes: Sequence[Outcome]) -> str:
    """Every job done once: the workers' claims all differ, and the rows say completed, one attempt."""
    ids = [job for o in outcomes for job in o.claimed]
    problems = []
    if len(ids) != jobs or len(set(ids)) != len(ids):
        problems.append(f"{len(ids)} claims of {len(set(ids))} distinct jobs, {jobs} expected")
    with psycopg.connect(db.admin, autocommit=True) as conn:
        if system == PROCRASTINATE:
            row = conn.execute(f"select count(*), count(*) filter (where status = 'succeeded' and attempts = 1) "
                               f"from {SCHEMA}.procrastinate_jobs").fetchone()
        else:
            row = conn.execute("select count(*), count(*) filter (where status = 'completed' and attempts = 1) "
                               "from public.jobs").fetchone()
    assert row is not None
    if row[0] != jobs or row[1] != jobs:
        problems.append(f"{row[1]} of {row[0]} rows done exactly once")
    return "; ".join(problems) or "ok"


def run_one(db: BenchDb, trader: Trader, agents: Sequence[tuple[str, str]], system: str, workers: int,
            jobs: int) -> tuple[float, str, float]:
    """Run ``jobs`` jobs through ``workers`` worker processes of one system.

    Returns:
        Jobs per second, the check, and CPU milliseconds per job (the workers and their backends).
    """
    _clear(db)
    _enqueue(db, trader, system, jobs)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    results = ctx.Queue()
    procs = []
    for i, (agent, key) in enumerate(agents[:workers]):
        name = f"bench-worker-{i}"
        named = f"&application_name={name}"
        spec = Worker(system, db.app + named, db.auth, db.admin + named, _procrastinate_url(db) + named,
                      trader.user_id, trader.email, agent, key, db.admin, name)
        procs.append(ctx.Process(target=_work, name=name, args=(spec, barrier, results)))
    for proc in procs:
        proc.start()
    barrier.wait(timeout=120)
    outcomes = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(30)
    started = min(o.started for o in outcomes)
    finished = max(o.finished for o in outcomes)
    if system == PROCRASTINATE:
        # Its workers take a while to start (their listeners, their first poll) and linger after
        # the last job (shutting those down): from the first job's start to the last job's end is
        # what counts. That spares it its first fetch, which the others pay.
        with psycopg.connect(db.admin, autocommit=True) as conn:
            row = conn.execute("select extract(epoch from min(at) filter (where type = 'started')), "
                               "extract(epoch from max(at) filter (where type = 'succeeded')) "
                               f"from {SCHEMA}.procrastinate_events").fetchone()
        assert row is not None
        assert row[0] is not None
        assert row[1] is not None
        started, finished = float(row[0]), float(row[1])
    cpu = sum(o.client_cpu + o.server_cpu for o in outcomes) * 1000 / jobs
    return jobs / (finished - started), _check(db, system, jobs, outcomes), cpu


def key_check_cost(db: BenchDb, trader: Trader, agent: tuple[str, str], calls: int = 2000) -> dict[str, float]:
    """Microseconds per call inside the server, with the trader's claims set as the app sets them.

    Each loop runs in one transaction that is rolled back (the claims claim real jobs), so no
    client, round trip or commit is in the figure: only what the functions themselves cost.
    """
    _clear(db)
    _enqueue(db, trader, APP, calls)
    out: dict[str, float] = {}
    with psycopg.connect(db.admin, autocommit=True) as conn:
        conn.execute("select set_config('request.jwt.claims', %s, false)",
                     (json.dumps({"sub": trader.user_id, "role": "authenticated"}),))
        # Claims in one transaction skip the rows the earlier ones took: a few hundred keep that small.
        for name, call, n in (
                ("verify_agent: the key check (its SHA-256)", "perform tnm_private.verify_agent(a, k)", calls),
                ("expire_leases: the lease sweep", "perform tnm_private.expire_leases(u)", calls),
                ("claim_next_job (300 in one transaction)", "perform * from public.claim_next_job(a, k, 60)", 300),
                ("the same without the key check", "perform * from bench_claims.claim_next_job(a, k, 60)", 300),
                ("claim_next_job_with_limits (the agent's; 300)",
                 "perform * from public.claim_next_job_with_limits(a, k, 60)", 300),
                ("risk_state_of: an entry's limits, read by its claim", "perform tnm_private.risk_state_of(a, u)",
                 calls),
                # The agent's loop, each call completing the job the last one claimed ('{{}}': the
                # body below is a format string).
                ("complete_and_claim_next_with_limits (the agent's loop; 1,000)",
                 "select (c.job).id, (c.job).lease_token into j, t "
                 "from public.complete_and_claim_next_with_limits(a, k, j, t, '{{}}', 60) c", 1000)):
            body = sql.SQL(
                "do $$ declare a uuid := {agent}; k text := {key}; u uuid; t0 timestamptz; j uuid; t uuid; begin "
                "select user_id into u from public.mt5_agents where id = a; "
                # The loop's first job, for the complete-and-claim loop (the others ignore it).
                "select c.id, c.lease_token into j, t from public.claim_next_job(a, k, 60) c; "
                "t0 := clock_timestamp(); "
                "for i in 1.." + str(n) + " loop " + call + "; end loop; "
                "raise exception 'bench:%', extract(epoch from clock_timestamp() - t0) * 1e6; "
                "end $$").format(agent=sql.Literal(agent[0]), key=sql.Literal(agent[1]))
            try:
                conn.execute(body)
            except psycopg.errors.RaiseException as exc:  # the roll-back, carrying the time
                out[name] = float(str(exc.diag.message_primary).split(":", 1)[1]) / n
    _clear(db)
    return out


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per queue, concurrency and round (default 2000)")
    parser.add_argument("--agents", default="1,2,4,8", help="concurrencies (default 1,2,4,8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported (default 3)")
    parser.add_argument("--fast-db", action="store_true", help="fsync off (the default is the workspace's durable "
                                                                "commits)")
    # Not fewer jobs: procrastinate's rate with 300 jobs a run is half its rate with 1,000 or more
    # (measured 2026-12-05), which doubled the ratios.
    parser.add_argument("--quick", action="store_true", help="one round of 1,000 jobs (a minute on a quiet machine)")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.rounds = 1000, 1
    levels = [int(v) for v in args.agents.split(",")]

    with private_database("tnm-bench-claims-", fast=args.fast_db) as db:
        print_machine(db.cluster)
        print(f"claims: {args.rounds} rounds × {args.jobs:,} no-op jobs per queue at {', '.join(map(str, levels))} "
              f"workers, {'fsync off' if args.fast_db else 'durable commits'}\n")
        trader = seed_trader(db.admin)
        agents = _pair_agents(db, trader, max(levels))
        _install(db)
        for system in SYSTEMS:  # warm-up: each agent's one bcrypt check, the caches, the schema
            run_one(db, trader, agents, system, max(levels), 50 if args.quick else 200)
        rates: dict[tuple[str, int], list[float]] = {}
        checks: dict[tuple[str, int], list[str]] = {}
        cpus: dict[tuple[str, int], list[float]] = {}
        turn = 0
        for _ in range(args.rounds):
            for workers in levels:
                order = SYSTEMS[turn % 4:] + SYSTEMS[:turn % 4]
                turn += 1
                for system in order:
                    rate, check, cpu = run_one(db, trader, agents, system, workers, args.jobs)
                    rates.setdefault((system, workers), []).append(rate)
                    checks.setdefault((system, workers), []).append(check)
                    cpus.setdefault((system, workers), []).append(cpu)
                    print(f"  {workers} × {system}: {rate:,.0f} jobs/s, {cpu:.2f} ms CPU a job, {check}", flush=True)
        costs = key_check_cost(db, trader, agents[0])
        _clear(db)
    report(levels, rates, checks, cpus, costs)


def report(levels: Sequence[int], rates: dict[tuple[str, int], list[float]],
           checks: dict[tuple[str, int], list[str]], cpus: dict[tuple[str, int], list[float]],
           costs: dict[str, float]) -> None:
    """Print jobs/s per system and concurrency, the ratios, the checks and the key check's cost."""
    med = {k: statistics.median(v) for k, v in rates.items()}

    def ratio(a: str, b: str, workers: int) -> float:
        # Within each round (the same stretch of machine load), then the median.
        return statistics.median(x / y for x, y in zip(rates[(a, workers)], rates[(b, workers)], strict=True))

    rows = [(str(w), med[(APP, w)], med[(NOKEY, w)], med[(BARE, w)], med[(PROCRASTINATE, w)],
             ratio(APP, PROCRASTINATE, w), ratio(BARE, PROCRASTINATE, w), ratio(APP, BARE, w), ratio(NOKEY, APP, w))
            for w in levels]
    print()
    print(table(("workers", "app jobs/s", "no key check", "bare SQL", "procrastinate", "app/procr.",
                 "bare/procr.", "app/bare", "no key/app"), rows))
    print("\nCPU milliseconds per job, the workers' processes and their PostgreSQL backends (median of the rounds; "
          "less sensitive to other work on the machine than jobs/s):")
    print(table(("workers", *SYSTEMS), [(str(w), *(statistics.median(cpus[(s, w)]) for s in SYSTEMS))
                                        for w in levels]))
    bad = {k: v for k, v in checks.items() if any(c != "ok" for c in v)}
    print("\nno double claim, every job completed with one attempt: "
          + ("yes, in every round" if not bad else f"NO: {bad}"))
    print("\ninside the server, per call (µs, one transaction, no client; a job's claim and its complete each "
          "check the key once):")
    print(table(("what", "µs"), list(costs.items())))
    worst = min(r[5] for r in rows)
    print(f"\ntarget app ≥ 3× procrastinate at every concurrency: worst {worst:.1f}× {said(worst >= 3)}")


if __name__ == "__main__":
    main()
