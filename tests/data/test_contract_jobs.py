"""Contract: jobs from the GUI, and the agent's side of the queue through the port."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tnm_desktop.agent import pairing
from tnm_desktop.domain import (
    AccountSnapshot,
    AgentCredentials,
    DealRecord,
    JobFilter,
    JobRequest,
    JobStatus,
    JobType,
    PairingKeyHashes,
    SyncReport,
)
from tnm_desktop.errors import LeaseLost, OperationalError, UserError

from tests.data.backends import Backend


def new_key() -> tuple[str, PairingKeyHashes]:
    key = pairing.new_key()
    return key, pairing.hash_key(key, rounds=4)


async def test_pair_claim_extend_complete(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    key, hashed = new_key()
    agent = await port.create_agent("Desk PC", "DESK-01", hashed)
    assert agent.pairing_key_prefix == hashed.prefix and agent.paired
    creds = AgentCredentials(agent.id, key)
    assert key not in repr(creds)

    job = await port.enqueue_job(JobRequest(JobType.GET_ACCOUNT, {"why": "sync now"}, target_agent_id=agent.id))
    assert job.status is JobStatus.PENDING
    claimed = await port.claim_job(creds, lease_seconds=30)
    assert claimed is not None and claimed.job.id == job.id and claimed.job.attempts == 1
    assert await port.claim_job(creds) is None
    until = await port.extend_lease(creds, claimed, lease_seconds=120)
    assert until > datetime.now(UTC)
    sent = await port.record_intent(creds, claimed, {"volume": 0.1})
    assert sent <= datetime.now(UTC)
    done = await port.complete_job(creds, claimed, {"balance": 1000.0})
    assert done.status is JobStatus.COMPLETED and done.result == {"balance": 1000.0}
    with pytest.raises(LeaseLost):
        await port.complete_job(creds, claimed, {})
    assert [j.id for j in await port.list_jobs(JobFilter(agent_id=agent.id))] == [job.id]


async def test_complete_and_claim_hands_over_the_next_job_in_one_call(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    key, hashed = new_key()
    agent = await port.create_agent("Desk PC", "DESK-01", hashed)
    creds = AgentCredentials(agent.id, key)
    first = await port.enqueue_job(JobRequest(JobType.GET_ACCOUNT))
    second = await port.enqueue_job(JobRequest(JobType.GET_POSITIONS, target_agent_id=agent.id))
    claimed = await port.claim_job(creds)
    assert claimed is not None and claimed.job.id == first.id
    following = await port.complete_and_claim(creds, claimed, {"balance": 5.0}, lease_seconds=30)
    assert following is not None and following.job.id == second.id and following.lease_token
    assert following.job.status is JobStatus.RUNNING and following.job.job_type is JobType.GET_POSITIONS
    (done,) = [j for j in await port.list_jobs(JobFilter(agent_id=agent.id)) if j.id == first.id]
    assert done.status is JobStatus.COMPLETED and done.result == {"balance": 5.0}
    with pytest.raises(LeaseLost):
        await port.complete_and_claim(creds, claimed, {})  # reported already: the lease moved on
    assert await port.complete_and_claim(creds, following, {}) is None  # nothing more waits


async def test_fail_with_retry_then_recover(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    key, hashed = new_key()
    agent = await port.create_agent("VPS", "", hashed)
    creds = AgentCredentials(agent.id, key)
    await port.enqueue_job(JobRequest(JobType.GET_POSITIONS))
    claimed = await port.claim_job(creds)
    assert claimed is not None
    retried = await port.fail_job(creds, claimed, "terminal busy", code="busy", retry=True)
    assert retried.status is JobStatus.PENDING and retried.error_message == "terminal busy"
    claimed = await port.claim_job(creds)
    assert claimed is not None and claimed.job.attempts == 2
    recovered = await port.recover_jobs(creds)
    assert [r.job.id for r in recovered] == [claimed.job.id]
    assert recovered[0].lease_token != claimed.lease_token
    failed = await port.fail_job(creds, recovered[0], "gave up")
    assert failed.status is JobStatus.FAILED


async def test_wrong_key_is_an_operational_error(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    _, hashed = new_key()
    agent = await port.create_agent("PC", "", hashed)
    with pytest.raises(OperationalError) as raised:
        await port.claim_job(AgentCredentials(agent.id, "pk_" + "0" * 64))
    assert raised.value.code == "agent_key_rejected"
    revoked = await port.revoke_agent(agent.id)
    assert not revoked.paired


async def test_cancel_only_a_waiting_job(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    job = await port.enqueue_job(JobRequest(JobType.COMPILE, {"version_id": None}))
    cancelled = await port.cancel_job(job.id)
    assert cancelled.status is JobStatus.CANCELLED
    with pytest.raises(UserError):
        await port.cancel_job(job.id)


async def test_heartbeat_and_sync_through_the_port(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    key, hashed = new_key()
    agent = await port.create_agent("PC", "", hashed)
    creds = AgentCredentials(agent.id, key)
    await port.heartbeat(creds, "running", None, "0.1.0")
    fetched = await port.get_agent(agent.id)
    assert fetched is not None and fetched.status == "running" and fetched.last_heartbeat_at is not None
    report = SyncReport(
        "manual", "success", datetime.now(UTC), 140,
        AccountSnapshot(login=5001, server="Sim-Demo", currency="USD", balance=10000.0, equity=10012.5,
                        leverage=100, server_time_offset=7200),
        (DealRecord(ticket=1, symbol="EURUSD.m", side="buy", entry="in", volume=0.1, price=1.08,
                    executed_at=datetime(2026, 11, 20, 8, tzinfo=UTC)),))
    log_id = await port.record_sync(creds, report)
    (account,) = await port.list_accounts()
    assert (account.login, account.equity, account.connection_status) == (5001, 10012.5, "connected")
    history = await port.sync_history(account.id)
    assert [h.id for h in history] == [log_id] and history[0].trades_synced == 1
    (health,) = await port.account_health()
    assert health.success_rate_pct == 100.0 and health.total_syncs_24h == 1
    failed = SyncReport("scheduled", "failed", datetime.now(UTC), 5000, AccountSnapshot(login=5001, server="Sim-Demo"),
                        error_message="Terminal not connected")
    await port.record_sync(creds, failed)
    (failure,) = await port.recent_sync_failures()
    assert failure.error_message == "Terminal not connected" and failure.login == 5001
    (health,) = await port.account_health()
    assert health.sync_failure_count == 1 and health.last_connection_error == "Terminal not connected"


async def test_the_agent_publishes_its_brokers_symbols(backend: Backend) -> None:
    from tnm_desktop.domain import BrokerConnectionDraft

    port = await backend.signed_in(backend.db.create_user())
    key, hashed = new_key()
    agent = await port.create_agent("PC", "", hashed)
    broker = await port.create_broker_connection(BrokerConnectionDraft(name="Sim", agent_id=agent.id))
    creds = AgentCredentials(agent.id, key)
    assert await port.record_symbols(creds, broker.id, ["EURUSD.m", "XAUUSD.m"]) == 2
    assert await port.record_symbols(creds, broker.id, ["EURUSD.m"]) == 1
    rows = backend.db.admin.execute("select symbol from broker_symbols where broker_connection_id = %s",
                                    (broker.id,)).fetchall()
    assert [r["symbol"] for r in rows] == ["EURUSD.m"]
    other = await port.create_broker_connection(BrokerConnectionDraft(name="Other", agent_id=None))
    other_agent = await port.create_agent("Other PC", "", new_key()[1])
    await port.update_broker_connection(other.id, BrokerConnectionDraft(name="Other", agent_id=other_agent.id))
    with pytest.raises(UserError):
        await port.record_symbols(creds, other.id, ["EURUSD.m"])
