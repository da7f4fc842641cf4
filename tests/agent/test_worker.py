"""The agent's claim loop and state machine on the real database (jobs run by a recording runner)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest_asyncio
from tnm_desktop.agent.events import AgentEvent, HeartbeatSent, JobFinished, StateChanged
from tnm_desktop.agent.thread import AgentThread
from tnm_desktop.agent.worker import Agent, AgentSettings
from tnm_desktop.data.local.adapter import LocalAdapter
from tnm_desktop.domain import AgentCredentials, AgentState, Session
from tnm_desktop.errors import OperationalError, TransientError, UserError

from tests.agent.fakes import CountingPort, RecordingRunner
from tests.data.backends import local_backend
from tests.pg import Agent as PairedAgent
from tests.pg import Db, User
from tests.waiting import eventually

FAST = AgentSettings(lease_seconds=30, heartbeat_every=0.5, fallback_poll_every=0.5, sync_every=3600,
                     backoff_base=0.05, backoff_max=0.2)


@dataclass
class Rig:
    db: Db
    user: User
    paired: PairedAgent
    port: CountingPort
    runner: RecordingRunner
    agent: Agent
    events: list[AgentEvent]
    task: asyncio.Task[None] | None = None

    def jobs(self, status: str | None = None) -> list[dict[str, object]]:
        query = "select id::text as id, status, error_message, attempts from jobs"
        rows = self.db.admin.execute(query + (" where status = %s" if status else "") + " order by seq",
                                     (status,) if status else ()).fetchall()
        return rows

    def enqueue(self, job_type: str = "get_account") -> str:
        row = self.db.admin.execute("insert into jobs (user_id, job_type) values (%s, %s) returning id::text as id",
                                    (self.user.id, job_type)).fetchone()
        assert row is not None
        return str(row["id"])

    def states(self) -> list[AgentState]:
        return [e.state for e in self.events if isinstance(e, StateChanged)]


async def signed_in_adapter(db: Db, user: User) -> LocalAdapter:
    backend = local_backend(db)
    adapter = await backend.make(f"session:{user.email}")
    assert isinstance(adapter, LocalAdapter)
    adapter.act_as(Session(user.id, user.email, "local"))
    return adapter


@pytest_asyncio.fixture
async def rig(db: Db) -> AsyncIterator[Rig]:
    user = db.create_user()
    paired = db.create_agent(user)
    adapter = await signed_in_adapter(db, user)
    port = CountingPort(adapter)
    runner = RecordingRunner()
    events: list[AgentEvent] = []
    agent = Agent(port, AgentCredentials(paired.id, paired.key), runner, settings=FAST,
                  emit=events.append)
    made = Rig(db, user, paired, port, runner, agent, events)
    yield made
    if made.task is not None:
        made.agent.stop()
        await asyncio.wait_for(made.task, 10)
    await adapter.close()


def start(rig: Rig) -> None:
    rig.task = asyncio.get_running_loop().create_task(rig.agent.run())


async def test_claims_what_waits_and_completes_it(rig: Rig) -> None:
    first, second = rig.enqueue(), rig.enqueue("get_positions")
    start(rig)
    await eventually(lambda: len(rig.jobs("completed")) == 2)
    assert [job_id for job_id, _ in rig.runner.ran] == [first, second]
    assert rig.states()[:2] == [AgentState.STARTING, AgentState.RUNNING]
    assert rig.runner.started == 1


async def test_a_new_job_wakes_the_idle_agent_at_once_not_at_its_next_poll(rig: Rig) -> None:
    # Its fallback poll is 30 s away: a job taken within 3 s was announced, not polled for. (How
    # fast the wake-up is — milliseconds — is measured by the benchmarks, not asserted here.)
    rig.agent = Agent(rig.port, AgentCredentials(rig.paired.id, rig.paired.key), rig.runner,
                      settings=replace(FAST, fallback_poll_every=30.0), emit=rig.events.append)
    start(rig)
    await eventually(lambda: rig.agent.state is AgentState.RUNNING)
    delays = []
    for _ in range(5):
        await asyncio.sleep(0.05)
        before = len(rig.runner.ran)
        inserted = time.monotonic()
        rig.enqueue()
        await eventually(lambda b=before: len(rig.runner.ran) > b, within=20)  # type: ignore[misc]
        delays.append(rig.runner.ran[-1][1] - inserted)
    assert max(delays) < 3.0, delays


async def test_an_idle_agent_takes_a_job_whose_lease_ran_out_elsewhere(rig: Rig) -> None:
    other = rig.db.create_agent(rig.user, "laptop")
    row = rig.db.admin.execute(
        "insert into jobs (user_id, job_type, status, agent_id, claimed_at, attempts, lease_token, lease_expires_at) "
        "values (%s, 'get_account', 'running', %s, now(), 1, gen_random_uuid(), now() + interval '1 second') "
        "returning id::text as id", (rig.user.id, other.id)).fetchone()
    assert row is not None
    start(rig)
    await eventually(lambda: rig.agent.state is AgentState.RUNNING)
    await asyncio.sleep(1.2)  # idle, while the other agent's lease runs out
    assert rig.runner.ran == []
    assert rig.db.admin.execute("select public.requeue_expired_jobs() as n").fetchone() == {"n": 1}
    # Only the update announces it: no new job wakes the agent.
    await eventually(lambda: rig.jobs("completed") != [], within=10)
    assert rig.jobs("completed")[0]["id"] == row["id"]


async def test_idle_agent_queries_no_more_often_than_its_fallback_poll(rig: Rig) -> None:
    start(rig)
    await eventually(lambda: rig.agent.state is AgentState.RUNNING)
    await asyncio.sleep(0.3)  # start-up done
    window_start = time.monotonic()
    await asyncio.sleep(3.0)
    calls = rig.port.since(window_start)
    times = [t for t, _ in calls]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert {name for _, name in calls} <= {"heartbeat"}, calls  # no claim polling while notifications work
    assert len(calls) <= int(3.0 / FAST.fallback_poll_every) + 1
    assert all(gap >= FAST.fallback_poll_every * 0.8 for gap in gaps), gaps


async def test_polls_slowly_while_notifications_are_down_and_still_gets_the_job(rig: Rig) -> None:
    start(rig)
    await eventually(lambda: rig.agent.state is AgentState.RUNNING)
    admin = rig.db.admin

    def listeners() -> int:
        row = admin.execute("select count(*) as n from pg_stat_activity where datname = %s "
                            "and query ilike 'listen%%'", (rig.db.name,)).fetchone()
        return int(row["n"]) if row else 0

    # Keep the LISTEN connection from coming back: the role may hold only the connections it has.
    held = admin.execute("select count(*) as n from pg_stat_activity where usename = 'authenticator'").fetchone()
    assert held is not None
    admin.execute(f"alter role authenticator connection limit {int(held['n']) - 1}")
    try:
        admin.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                      "where datname = %s and query ilike 'listen%%'", (rig.db.name,))
        await eventually(lambda: listeners() == 0)
        await asyncio.sleep(0.3)  # the listener has tried to reconnect and failed
        assert listeners() == 0
        inserted = time.monotonic()
        job_id = rig.enqueue()
        await eventually(lambda: any(j == job_id for j, _ in rig.runner.ran), within=10)
        waited = next(t for j, t in rig.runner.ran if j == job_id) - inserted
        assert listeners() == 0  # found by polling, not by a notification
        assert waited < FAST.fallback_poll_every * 10, waited  # its fallback poll, not the default 15 s
    finally:
        admin.execute("alter role authenticator connection limit -1")
    await eventually(lambda: listeners() == 1, within=15)  # notifications come back on their own


async def test_user_error_fails_the_job_with_its_message(rig: Rig) -> None:
    rig.runner.fail_with["get_candles"] = UserError("Unknown symbol FOO.m on this terminal.", code="bad_symbol")
    job_id = rig.enqueue("get_candles")
    start(rig)
    await eventually(lambda: len(rig.jobs("failed")) == 1)
    (failed,) = rig.jobs("failed")
    assert (failed["id"], failed["error_message"]) == (job_id, "Unknown symbol FOO.m on this terminal.")
    # The failure commits before the agent hears back and says the job finished.
    await eventually(lambda: any(isinstance(e, JobFinished) for e in rig.events))
    finished = [e for e in rig.events if isinstance(e, JobFinished)]
    assert finished[-1].outcome == "failed"
    assert rig.agent.state is AgentState.RUNNING


async def test_transient_error_retries_the_job_and_recovers(rig: Rig) -> None:
    rig.runner.fail_with["get_account"] = TransientError("The terminal is not responding.", code="ipc")
    rig.enqueue()
    start(rig)
    await eventually(lambda: len(rig.jobs("completed")) == 1, within=10)
    assert AgentState.DEGRADED in rig.states()
    assert rig.states()[-1] is AgentState.RUNNING
    (job,) = rig.jobs()
    assert job["attempts"] == 2
    assert rig.runner.started == 2  # reconnected before claiming again


async def test_operational_error_stops_and_says_why(rig: Rig) -> None:
    message = "Auto-trading is disabled in MetaTrader: enable the Algo Trading button."
    rig.runner.fail_with["trade"] = OperationalError(message, code="autotrading_disabled")
    rig.enqueue("trade")
    start(rig)
    await eventually(lambda: rig.agent.state is AgentState.STOPPED, within=10)
    assert rig.task is not None
    await asyncio.wait_for(rig.task, 10)
    last = [e for e in rig.events if isinstance(e, StateChanged)][-1]
    assert last.detail == message
    assert rig.jobs()[0]["status"] == "failed"
    row = rig.db.admin.execute("select status, last_error from mt5_agents where id = %s", (rig.paired.id,)).fetchone()
    assert row == {"status": "stopped", "last_error": message}


async def test_pause_claims_nothing_until_resumed(rig: Rig) -> None:
    start(rig)
    await eventually(lambda: rig.agent.state is AgentState.RUNNING)
    rig.agent.pause()
    assert rig.agent.state is AgentState.PAUSED
    # A claim begun before the pause may still be on its way (waiting for a connection on a loaded
    # machine): it is not new work, and the job enqueued next must not be what it finds.
    await eventually(lambda: rig.port.under_way["claim_job"] == 0, what="no claim under way")
    rig.enqueue()
    await asyncio.sleep(0.5)
    assert rig.runner.ran == []
    rig.agent.resume()
    await eventually(lambda: len(rig.jobs("completed")) == 1)
    assert any(isinstance(e, HeartbeatSent) for e in rig.events)


async def test_a_claim_on_its_way_when_paused_runs_only_once_resumed(rig: Rig) -> None:
    # The claim is asked for before Pause and answered after it, with the job that came meanwhile:
    # Pause still means nothing new is executed.
    gate = rig.port.gates["claim_job"] = asyncio.Event()
    start(rig)
    await eventually(lambda: any(name == "claim_job" for _, name in rig.port.calls), what="a claim asked for")
    rig.agent.pause()
    job = rig.enqueue()
    gate.set()
    await eventually(lambda: "claim_job" in rig.port.returned, what="the claim answered")
    # What the agent does with the answer it does at once, in the same step of its task.
    assert [j["id"] for j in rig.jobs("running")] == [job] and rig.runner.ran == []  # held, not run
    assert rig.agent.state is AgentState.PAUSED
    rig.agent.resume()
    await eventually(lambda: len(rig.jobs("completed")) == 1)
    assert [job_id for job_id, _ in rig.runner.ran] == [job]


async def test_a_busy_agent_makes_one_call_a_job(rig: Rig) -> None:
    start(rig)
    await eventually(lambda: rig.agent.state is AgentState.RUNNING)
    # From before the pause: a claim the idle agent asked for just before it is answered with the
    # first job once that is queued, and held until Resume (a loaded machine makes this happen).
    moment = time.monotonic()
    rig.agent.pause()
    waiting = [rig.enqueue("get_positions" if i == 3 else "get_account") for i in range(6)]
    rig.runner.fail_with["get_positions"] = UserError("No such account.")
    rig.agent.resume()
    await eventually(lambda: len(rig.jobs("completed")) + len(rig.jobs("failed")) == 6)
    assert [job_id for job_id, _ in rig.runner.ran] == waiting  # in arrival order
    calls = [name for _, name in rig.port.since(moment) if name in (
        "claim_job", "complete_job", "complete_and_claim", "fail_job")]
    # Each completion brings the next job; a failure is reported alone and the next job claimed.
    # (Once all is done, a wake-up by the jobs' own changes may look once more and find nothing.)
    # (Before the first job, the idle agent may have looked and found nothing: claims that came back empty.)
    first = calls.index("complete_and_claim")
    assert first >= 1 and set(calls[:first]) == {"claim_job"}, calls
    last = max(i for i, name in enumerate(calls) if name != "claim_job")
    assert calls[first:last + 1] == ["complete_and_claim", "complete_and_claim", "complete_and_claim",
                                     "fail_job", "claim_job", "complete_and_claim", "complete_and_claim"]
    assert set(calls[last + 1:]) <= {"claim_job"}, calls
    assert [j["status"] for j in rig.jobs()] == ["completed"] * 3 + ["failed"] + ["completed"] * 2


async def test_agent_thread_runs_on_its_own_thread_and_stops(db: Db) -> None:
    user = db.create_user()
    paired = db.create_agent(user)
    seen_threads: set[str] = set()
    events: list[AgentEvent] = []
    runner = RecordingRunner()
    backend = local_backend(db)

    async def data_factory() -> LocalAdapter:
        adapter = await backend.make("session:thread")
        assert isinstance(adapter, LocalAdapter)
        adapter.act_as(Session(user.id, user.email, "local"))
        return adapter

    async def runner_factory(_data: object, _creds: object, _emit: object) -> RecordingRunner:
        return runner

    import threading

    def listener(event: AgentEvent) -> None:
        seen_threads.add(threading.current_thread().name)
        events.append(event)

    thread = AgentThread(data_factory, AgentCredentials(paired.id, paired.key), runner_factory, FAST)
    thread.add_listener(listener)
    thread.start()
    await eventually(lambda: thread.state is AgentState.RUNNING)
    db.admin.execute("insert into jobs (user_id, job_type) values (%s, 'get_account')", (user.id,))
    await eventually(lambda: len(runner.ran) == 1)
    thread.pause()
    await eventually(lambda: thread.state is AgentState.PAUSED)
    thread.stop()
    assert await asyncio.to_thread(thread.join, 10)
    assert thread.state is AgentState.STOPPED
    assert seen_threads == {f"agent-{paired.id[:8]}"}
    assert threading.current_thread().name not in seen_threads


async def test_an_unexpected_error_at_start_still_ends_with_a_stop_the_listeners_hear(db: Db) -> None:
    # The headless agent waits for this event to exit: without it, a start that failed on an
    # unexpected error left the process running, orphaned, once its owner was gone.
    user = db.create_user()
    paired = db.create_agent(user)
    backend = local_backend(db)
    events: list[AgentEvent] = []

    async def data_factory() -> LocalAdapter:
        adapter = await backend.make("session:thread-error")
        assert isinstance(adapter, LocalAdapter)
        adapter.act_as(Session(user.id, user.email, "local"))
        return adapter

    async def runner_factory(_data: object, _creds: object, _emit: object) -> RecordingRunner:
        raise ConnectionResetError("the terminal went away")

    thread = AgentThread(data_factory, AgentCredentials(paired.id, paired.key), runner_factory, FAST)
    thread.add_listener(events.append)
    thread.start()
    assert await asyncio.to_thread(thread.join, 30)
    stops = [e for e in events if isinstance(e, StateChanged) and e.state is AgentState.STOPPED]
    assert [e.detail for e in stops] == ["The agent stopped on an unexpected error; the log file has the details."]
    assert thread.state is AgentState.STOPPED
