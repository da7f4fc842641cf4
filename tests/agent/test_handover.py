"""The app's receiver claims an alert's job for its idle agent and hands it over in memory.

The receiver runs on its own thread (as in the app), the agent on the test's loop, both on the real
database; jobs are run by a recording runner.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from tnm_desktop.agent.worker import Agent
from tnm_desktop.domain import AgentCredentials, AgentState
from tnm_desktop.domain.handover import Handed, Handover
from tnm_desktop.webhook.config import ReceiverConfig
from tnm_desktop.webhook.ingest import Ingestor, IngestResult
from tnm_desktop.webhook.server import WebhookReceiver

from tests.agent.fakes import CountingPort, RecordingRunner
from tests.agent.test_worker import FAST, signed_in_adapter
from tests.ingest.conftest import Desk, make_desk
from tests.pg import Db
from tests.waiting import eventually

CLAIMS = ("claim_job", "complete_and_claim", "recover_jobs")


# The hand-over on its own -------------------------------------------------------------------------

@dataclass
class Sleeper:
    woken: int = 0
    warmed: int = 0

    def wake(self) -> None:
        self.woken += 1

    def warm(self) -> None:
        self.warmed += 1


KEY = "pk_" + "5ec7e7" * 10


def _open(handover: Handover, sleeper: Sleeper) -> None:
    handover.open(AgentCredentials("a1", KEY), 60, wake=sleeper.wake, warm=sleeper.warm)


def test_nothing_is_claimed_for_an_agent_that_does_not_sleep() -> None:
    handover = Handover()
    assert (handover.reserve(), handover.close("a1"), handover.waiting) == (None, None, False)


def test_one_call_claims_for_a_sleeping_agent_which_waits_for_its_answer() -> None:
    handover, sleeper = Handover(), Sleeper()
    _open(handover, sleeper)
    assert handover.waiting
    ticket = handover.reserve()
    assert ticket is not None and ticket.creds.agent_id == "a1" and ticket.lease_seconds == 60
    assert KEY not in repr(ticket) + repr(handover)
    assert sleeper.warmed == 1  # the reads a job needs start while the call is on its way
    assert handover.reserve() is None  # one call at a time
    delivery = handover.close("a1")
    assert delivery is not None and not delivery.done()
    ticket.deliver(None)
    ticket.deliver(None, known=False)  # only the first answer counts
    assert (delivery.result(), sleeper.woken) == (Handed(None, True), 1)
    assert handover.close("a1") is None


def test_two_agents_of_one_process_each_get_only_their_own_answers() -> None:
    handover, first, second = Handover(), Sleeper(), Sleeper()
    handover.open(AgentCredentials("a1", KEY), 60, wake=first.wake, warm=first.warm)
    handover.open(AgentCredentials("a2", KEY), 60, wake=second.wake, warm=second.warm)
    ticket = handover.reserve()
    assert ticket is not None and handover.waiting  # the other one still sleeps
    other = "a2" if ticket.creds.agent_id == "a1" else "a1"
    assert handover.close(other) is None
    handover.open(AgentCredentials(ticket.creds.agent_id, KEY), 60, wake=first.wake, warm=first.warm)
    assert handover.reserve() is None  # its answer is still to come: not asleep for another call
    ticket.deliver(None)
    delivery = handover.close(ticket.creds.agent_id)
    assert delivery is not None and delivery.result() == Handed(None, True)


def test_an_answer_for_an_agent_whose_loop_is_gone_is_not_an_error() -> None:
    handover = Handover()

    def gone() -> None:
        raise RuntimeError("Event loop is closed")

    handover.open(AgentCredentials("a1", KEY), 60, wake=gone, warm=gone)
    ticket = handover.reserve()
    assert ticket is not None
    ticket.deliver(None)


# The agent and the app's receiver -----------------------------------------------------------------

@dataclass
class Pair:
    desk: Desk
    handover: Handover
    receiver: WebhookReceiver
    port: CountingPort
    runner: RecordingRunner
    agent: Agent
    task: asyncio.Task[None] | None = None

    async def post(self, body: dict[str, Any]) -> int:
        url = f"{self.receiver.base_url}/tv/{self.desk.secret}"

        def send() -> int:
            request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310 — loopback
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                return int(answer.status)

        return await asyncio.to_thread(send)

    def job_of(self, signal_key: str) -> str:
        row = self.desk.db.admin.execute("select job_id::text as job from tv_signals where raw_payload ->> 'id' = %s",
                                         (signal_key,)).fetchone()
        assert row is not None and row["job"] is not None
        return str(row["job"])

    def status(self, job_id: str) -> str:
        row = self.desk.db.admin.execute("select status from jobs where id = %s", (job_id,)).fetchone()
        assert row is not None
        return str(row["status"])

    def calls_since(self, moment: float) -> list[str]:
        return [name for _, name in self.port.since(moment) if name in CLAIMS]


@pytest.fixture
def desk(db: Db) -> Iterator[Desk]:
    made = make_desk(db)
    yield made
    made.close()


@pytest_asyncio.fixture
async def pair(desk: Desk) -> AsyncIterator[Pair]:
    handover = Handover()
    receiver = WebhookReceiver(ReceiverConfig(database_url=desk.ingest_url, port=0, direct=True, burst=100),
                               handover=handover)
    await asyncio.to_thread(receiver.start)
    adapter = await signed_in_adapter(desk.db, desk.user)
    port = CountingPort(adapter)
    runner = RecordingRunner()
    agent = Agent(port, AgentCredentials(desk.agent.id, desk.agent.key), runner, settings=FAST, handover=handover)
    made = Pair(desk, handover, receiver, port, runner, agent)
    made.task = asyncio.get_running_loop().create_task(agent.run())
    await eventually(lambda: handover.waiting, what="the agent asleep, waiting for work")
    yield made
    agent.stop()
    await asyncio.wait_for(made.task, 10)
    await asyncio.to_thread(receiver.stop)
    await adapter.close()


async def test_an_idle_agent_gets_the_new_trade_without_claiming_it_itself(pair: Pair) -> None:
    moment = time.monotonic()
    assert await pair.post({"action": "buy", "symbol": "EURUSD", "id": "one"}) == 200
    job = pair.job_of("one")
    await eventually(lambda: pair.status(job) == "completed")
    assert [job_id for job_id, _ in pair.runner.ran] == [job]
    # The receiver's call claimed it: the agent's first call was the completion (which looks for
    # more), with no claim or take-back of its own before it. On a loaded machine the claim's own
    # announcement can outlast the agent's settle delay (wakeups.UPDATE_SETTLE) before the job is
    # handed over; the agent then looks once more after the trade and finds nothing.
    await eventually(lambda: pair.handover.waiting, what="asleep again")
    calls = pair.calls_since(moment)
    assert calls[0] == "complete_and_claim"
    assert set(calls[1:]) <= {"claim_job"} and len(calls) <= 2


async def test_alerts_that_come_while_it_works_follow_in_their_order(pair: Pair) -> None:
    pair.runner.delay = 0.3  # the first trade is still under way when the others arrive
    for key in ("a", "b", "c"):
        assert await pair.post({"action": "buy", "symbol": "EURUSD", "id": key}) == 200
    jobs = [pair.job_of(key) for key in ("a", "b", "c")]
    await eventually(lambda: all(pair.status(j) == "completed" for j in jobs))
    assert [job_id for job_id, _ in pair.runner.ran] == jobs


async def test_a_paused_agent_is_handed_nothing(pair: Pair) -> None:
    pair.agent.pause()
    await eventually(lambda: not pair.handover.waiting, what="the hand-over closed")
    assert pair.agent.state is AgentState.PAUSED
    assert await pair.post({"action": "buy", "symbol": "EURUSD", "id": "p"}) == 200
    job = pair.job_of("p")
    await asyncio.sleep(0.3)
    assert (pair.status(job), pair.runner.ran) == ("pending", [])
    pair.agent.resume()
    await eventually(lambda: pair.status(job) == "completed")


def _claim_for(pair: Pair, key: str) -> str:
    # The receiver's call, made by hand: the job is the agent's once this returns.
    with pair.desk.db.connect(user="tnm_ingest") as conn:
        row = conn.execute(
            "select i.job_id::text as job, (i.claimed).id::text as claimed from public.ingest_tv_signal_and_claim("
            "%s, %s, now(), null, %s, %s, 60) i",
            (pair.desk.secret, json.dumps({"action": "buy", "symbol": "EURUSD", "id": key}),
             pair.desk.agent.id, pair.desk.agent.key)).fetchone()
        conn.commit()
    assert row is not None and row["claimed"] == row["job"]
    return str(row["job"])


@pytest.mark.parametrize("answer", ["broke off", "nothing claimed"])
async def test_a_call_whose_answer_was_lost_costs_no_trade(pair: Pair, answer: str) -> None:
    # The call may have claimed the job for the agent and then lost its answer (a dropped connection,
    # a timeout): the agent takes back what it holds. A call that claimed nothing lets the agent
    # claim for itself.
    ticket = pair.handover.reserve()
    assert ticket is not None
    moment = time.monotonic()
    if answer == "broke off":
        job = _claim_for(pair, "lost")
        ticket.deliver(None, known=False)
        expected: Callable[[list[str]], bool] = lambda calls: calls[:1] == ["recover_jobs"]  # noqa: E731
    else:
        job = pair.desk.ingest(json.dumps({"action": "buy", "symbol": "EURUSD", "id": "plain"}))["job_id"]
        ticket.deliver(None)
        expected = lambda calls: calls[:1] == ["claim_job"]  # noqa: E731
    await eventually(lambda: pair.status(job) == "completed")
    assert [job_id for job_id, _ in pair.runner.ran] == [job]
    assert expected(pair.calls_since(moment)), pair.calls_since(moment)


# The receiver's side ------------------------------------------------------------------------------

async def _ingest_for(desk: Desk, agent_id: str, body: str, reject: str | None = None
                     ) -> tuple[IngestResult, Handover, Sleeper]:
    """One alert through the receiver's ingestion while an agent (``agent_id``) sleeps."""
    handover, sleeper = Handover(), Sleeper()
    handover.open(AgentCredentials(agent_id, desk.agent.key), 60, wake=sleeper.wake, warm=sleeper.warm)
    ingestor = Ingestor(desk.ingest_url, direct=True, handover=handover)
    await ingestor.open()
    try:
        return await ingestor.ingest(desk.secret, body, datetime.now(UTC), reject, within=5), handover, sleeper
    finally:
        await ingestor.close()


async def test_the_receiver_hands_over_the_claimed_job_with_its_lease(desk: Desk) -> None:
    result, handover, sleeper = await _ingest_for(desk, desk.agent.id, '{"action": "buy", "symbol": "EURUSD"}')
    delivery = handover.close(desk.agent.id)
    assert delivery is not None and sleeper.woken == 1
    handed = delivery.result()
    assert handed.known and handed.claimed is not None
    row = desk.db.admin.execute("select status, agent_id::text, lease_token::text from jobs where id = %s",
                                (result.job_id,)).fetchone()
    assert (handed.claimed.job.id, handed.claimed.lease_token) == (result.job_id, row["lease_token"] if row else None)
    assert result.handed
    assert row is not None and (row["status"], row["agent_id"]) == ("running", desk.agent.id)
    assert handed.claimed.risk is not None and handed.claimed.risk.limits.max_lot_size == 2


async def test_a_refused_request_claims_nothing(desk: Desk) -> None:
    result, handover, sleeper = await _ingest_for(desk, desk.agent.id, "{}", "rate limited")
    assert result.code == "rejected"
    assert handover.waiting and (sleeper.warmed, sleeper.woken) == (0, 0)  # left asleep


async def test_a_claim_the_database_refuses_still_logs_the_alert(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    # Whatever goes wrong with the claim, the alert is logged the plain way and the agent claims
    # the job itself: the claim is never worth an alert.
    result, handover, _ = await _ingest_for(desk, "not an id", '{"action": "buy", "symbol": "EURUSD"}')
    assert result.code == "accepted" and desk.count("jobs", "status = 'pending'") == 1
    delivery = handover.close("not an id")
    assert delivery is not None and delivery.result() == Handed(None, True)
    assert "the agent claims the job itself" in caplog.text
