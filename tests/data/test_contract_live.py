"""Contract: live updates reach the signed-in user, and only them."""

from __future__ import annotations

import asyncio

from tnm_desktop.agent import pairing
from tnm_desktop.data.port import Change, LiveState, Table
from tnm_desktop.domain import AgentCredentials, JobRequest, JobType, Signal

from tests.data.backends import Backend
from tests.data.helpers import insert_signal, strategy_for
from tests.waiting import eventually as wait_for


async def test_subscriber_gets_a_signal_inserted_elsewhere_and_another_user_gets_nothing(backend: Backend) -> None:
    alice, bob = backend.db.create_user(), backend.db.create_user()
    alice_port, bob_port = await backend.signed_in(alice), await backend.signed_in(bob)
    strategy = await strategy_for(alice_port)
    alice_changes: list[Change] = []
    bob_changes: list[Change] = []
    sub_a = await alice_port.subscribe([Table.SIGNALS], alice_changes.append)
    sub_b = await bob_port.subscribe([Table.SIGNALS, Table.JOBS], bob_changes.append)
    await wait_for(lambda: sub_a.state is LiveState.LIVE and sub_b.state is LiveState.LIVE)

    signal_id = insert_signal(backend.db, alice, strategy.id, symbol="GBPUSD")
    await wait_for(lambda: any(c.id == signal_id for c in alice_changes))
    change = next(c for c in alice_changes if c.id == signal_id)
    assert change.table is Table.SIGNALS and change.op == "insert"
    assert isinstance(change.row, Signal) and change.row.symbol == "GBPUSD"

    backend.db.admin.execute("update tv_signals set status = 'executed', fill_price = 1.27 where id = %s", (signal_id,))
    await wait_for(lambda: any(c.op == "update" for c in alice_changes))
    updated = [c for c in alice_changes if c.op == "update"][-1]
    assert isinstance(updated.row, Signal) and updated.row.fill_price == 1.27
    await asyncio.sleep(0.3)  # bob had every chance to receive something
    assert bob_changes == []
    await sub_a.close()
    await sub_b.close()


async def test_a_dropped_channel_polls_then_recovers_without_losing_changes(backend: Backend) -> None:
    user = backend.db.create_user()
    port = await backend.signed_in(user)
    strategy = await strategy_for(port)
    changes: list[Change] = []
    states: list[LiveState] = []
    sub = await port.subscribe([Table.SIGNALS], changes.append, states.append)
    await wait_for(lambda: sub.state is LiveState.LIVE)
    await backend.drop_live_connections()
    await wait_for(lambda: LiveState.POLLING in states)
    missed = insert_signal(backend.db, user, strategy.id)
    await wait_for(lambda: any(c.id == missed for c in changes), within=20)
    await wait_for(lambda: sub.state is LiveState.LIVE, within=20)
    after = insert_signal(backend.db, user, strategy.id)
    await wait_for(lambda: any(c.id == after for c in changes))
    await sub.close()
    assert sub.state is LiveState.CLOSED


async def test_a_wake_only_subscription_gets_ids_and_operations_without_rows(backend: Backend) -> None:
    alice, bob = backend.db.create_user(), backend.db.create_user()
    alice_port, bob_port = await backend.signed_in(alice), await backend.signed_in(bob)
    strategy = await strategy_for(alice_port)
    alice_changes: list[Change] = []
    bob_changes: list[Change] = []
    sub_a = await alice_port.subscribe([Table.SIGNALS], alice_changes.append, rows=False)
    sub_b = await bob_port.subscribe([Table.SIGNALS], bob_changes.append, rows=False)
    await wait_for(lambda: sub_a.state is LiveState.LIVE and sub_b.state is LiveState.LIVE)

    signal_id = insert_signal(backend.db, alice, strategy.id)
    await wait_for(lambda: any(c.id == signal_id for c in alice_changes))
    assert next(c for c in alice_changes if c.id == signal_id) == Change(Table.SIGNALS, "insert", signal_id, None)
    backend.db.admin.execute("update tv_signals set status = 'executed' where id = %s", (signal_id,))
    await wait_for(lambda: any(c.op == "update" for c in alice_changes))
    assert all(c.row is None and c.id == signal_id for c in alice_changes)
    await asyncio.sleep(0.3)  # bob had every chance to receive something
    assert bob_changes == []
    await sub_a.close()
    await sub_b.close()


async def test_the_agents_subscription_hears_of_each_job_that_starts_to_wait(backend: Backend) -> None:
    alice, bob = backend.db.create_user(), backend.db.create_user()
    alice_port, bob_port = await backend.signed_in(alice), await backend.signed_in(bob)
    key = pairing.new_key()
    hashed = pairing.hash_key(key, rounds=4)
    agent = await alice_port.create_agent("Desk PC", "DESK-01", hashed)
    creds = AgentCredentials(agent.id, key)
    alice_changes: list[Change] = []
    bob_changes: list[Change] = []
    sub_a = await alice_port.subscribe_waiting_jobs(alice_changes.append)
    sub_b = await bob_port.subscribe_waiting_jobs(bob_changes.append)
    await wait_for(lambda: sub_a.state is LiveState.LIVE and sub_b.state is LiveState.LIVE)

    job = await alice_port.enqueue_job(JobRequest(JobType.GET_ACCOUNT, target_agent_id=agent.id))
    await wait_for(lambda: any(c.id == job.id for c in alice_changes))
    first = next(c for c in alice_changes if c.id == job.id)
    # The local workspace announces exactly the jobs that wait; Realtime announces every change.
    exact = backend.name == "local"
    assert first.table is Table.JOBS and first.row is None and first.op == ("waiting" if exact else "insert")
    claimed = await alice_port.claim_job(creds)
    assert claimed is not None
    await alice_port.complete_job(creds, claimed, {"balance": 1.0})
    again = await alice_port.enqueue_job(JobRequest(JobType.GET_POSITIONS, target_agent_id=agent.id))
    await wait_for(lambda: any(c.id == again.id for c in alice_changes))
    if exact:
        assert [(c.op, c.id) for c in alice_changes] == [("waiting", job.id), ("waiting", again.id)]
    await asyncio.sleep(0.3)  # bob had every chance to receive something
    assert bob_changes == []
    await sub_a.close()
    await sub_b.close()
