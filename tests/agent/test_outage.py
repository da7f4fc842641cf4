"""A database outage: the agent degrades quietly, obeys a stop at once, and is back within seconds of
the database's return — with its real timings (``AgentSettings()``), on a PostgreSQL of its own that
the test stops and starts again (the session's cluster serves every other test meanwhile).

The full 60 s outage, with the receiver and alerts flowing, is ``python -m bench.outage``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from tnm_desktop import pgcluster
from tnm_desktop.agent.events import AgentEvent, LogLine, StateChanged
from tnm_desktop.agent.worker import Agent, AgentSettings
from tnm_desktop.data.local.adapter import LocalAdapter
from tnm_desktop.domain import AgentCredentials, AgentState, Session
from tnm_desktop.pgcluster import LocalCluster

from tests.agent.fakes import RecordingRunner
from tests.conftest import reachable_tmpdir
from tests.pg import Db, User
from tests.waiting import eventually

OUTAGE_S = 12.0
BACK_WITHIN_S = 5.0  # the limit; the agent's backoff stops at 3 s


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[LocalCluster]:
    """A workspace database for this module alone: its outages touch no other test."""
    root = reachable_tmpdir("tnm-outage-")
    cluster, _ = pgcluster.up(root / "db", fast=True)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Rig:
    cluster: LocalCluster
    db: Db
    user: User
    agent: Agent
    runner: RecordingRunner
    events: list[AgentEvent] = field(default_factory=list)

    def enqueue(self) -> str:
        row = self.db.admin.execute("insert into jobs (user_id, job_type) values (%s, 'get_account') "
                                    "returning id::text as id", (self.user.id,)).fetchone()
        assert row is not None
        return str(row["id"])

    def claimed_after(self, job_id: str) -> float:
        """Seconds from the job's creation to its claim, by the database's clock."""
        row = self.db.admin.execute("select extract(epoch from claimed_at - created_at)::float8 as s from jobs "
                                    "where id = %s and claimed_at is not null", (job_id,)).fetchone()
        assert row is not None, "not claimed"
        return float(row["s"])

    def warnings_since(self, moment: float) -> list[str]:
        return [e.text for e in self.events if isinstance(e, LogLine) and e.level == "warning"
                and e.at.timestamp() >= moment]


@pytest_asyncio.fixture
async def rig(own_cluster: LocalCluster) -> AsyncIterator[Rig]:
    if not own_cluster.is_running():
        own_cluster.start()
    db = Db(own_cluster, pgcluster.DATABASE)
    user = db.create_user()
    paired = db.create_agent(user)
    adapter = LocalAdapter(own_cluster.conninfo(user="authenticator"),
                           own_cluster.conninfo(user="supabase_auth_admin"), "session:outage")
    adapter.act_as(Session(user.id, user.email, "local"))
    runner = RecordingRunner()
    events: list[AgentEvent] = []
    agent = Agent(adapter, AgentCredentials(paired.id, paired.key), runner,
                  settings=AgentSettings(sync_every=3600.0), emit=events.append)  # the real timings otherwise
    made = Rig(own_cluster, db, user, agent, runner, events)
    task = asyncio.get_running_loop().create_task(agent.run())
    try:
        await eventually(lambda: agent.state is AgentState.RUNNING, within=30, what="the agent running")
        yield made
    finally:
        agent.stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 30)
        await adapter.close()
        if not own_cluster.is_running():
            own_cluster.start()
        db.close()  # (a connection from before an outage is dead)


def states(rig: Rig) -> list[AgentState]:
    return [e.state for e in rig.events if isinstance(e, StateChanged)]


@pytest.mark.slow
async def test_after_an_outage_the_agent_takes_the_queued_jobs_within_seconds(rig: Rig) -> None:
    before = rig.enqueue()
    await eventually(lambda: any(j == before for j, _ in rig.runner.ran), what="a job before the outage")

    went_down = time.time()
    await asyncio.to_thread(rig.cluster.stop)
    await eventually(lambda: rig.agent.state is AgentState.DEGRADED, within=30, what="the agent degraded")
    await asyncio.sleep(max(0.0, OUTAGE_S - (time.time() - went_down)))
    assert rig.agent.state is AgentState.DEGRADED
    # Tried every few seconds, said once: not a warning per attempt.
    assert len(rig.warnings_since(went_down)) <= 2, rig.warnings_since(went_down)

    await asyncio.to_thread(rig.cluster.start)
    rig.db.close()  # its connection died with the server
    waiting = [rig.enqueue() for _ in range(3)]  # queued the moment the database is back
    await eventually(lambda: {j for j, _ in rig.runner.ran} >= set(waiting), within=30, what="the queue drained")
    waited = max(rig.claimed_after(job_id) for job_id in waiting)
    assert waited < BACK_WITHIN_S, f"the agent took {waited:.1f} s to come back"
    assert states(rig)[-1] is AgentState.RUNNING


@pytest.mark.slow
async def test_a_stop_during_an_outage_is_obeyed_at_once(rig: Rig) -> None:
    await asyncio.to_thread(rig.cluster.stop)
    await eventually(lambda: rig.agent.state is AgentState.DEGRADED, within=30, what="the agent degraded")
    await asyncio.sleep(2.0)  # well into retrying
    asked = time.monotonic()
    rig.agent.stop()
    await eventually(lambda: rig.agent.state is AgentState.STOPPED, within=30, what="stopped")
    # Its last heartbeat and the terminal's release wait 3 s at most (it took 12 s, waiting for the
    # database's connection pool).
    assert time.monotonic() - asked < 6.0
