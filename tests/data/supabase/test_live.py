"""Live updates through Realtime: per-user filtering, the dropped socket, the token kept current."""

from __future__ import annotations

import asyncio

import jwt
from tnm_desktop.data.port import Change, LiveState, Subscription, Table
from tnm_desktop.data.supabase import LiveOptions
from tnm_desktop.domain import Signal

from tests.data.helpers import insert_signal, strategy_for
from tests.data.supabase.support import MakeAdapter, signed_in
from tests.data.supabase_backend import SupabaseProject
from tests.pg import Db
from tests.waiting import eventually


def token_subject(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["sub"])


def state_now(sub: Subscription) -> LiveState:
    """The subscription's state, read afresh (mypy would carry an earlier check's narrowing on)."""
    return sub.state


async def test_a_signal_reaches_its_owner_and_not_another_subscriber(db: Db, project: SupabaseProject,
                                                                     make_adapter: MakeAdapter) -> None:
    alice, bob = db.create_user(), db.create_user()
    alice_port, bob_port = await signed_in(make_adapter, alice), await signed_in(make_adapter, bob)
    strategy = await strategy_for(alice_port)
    alice_changes: list[Change] = []
    bob_changes: list[Change] = []
    sub_a = await alice_port.subscribe([Table.SIGNALS], alice_changes.append)
    sub_b = await bob_port.subscribe([Table.SIGNALS, Table.JOBS], bob_changes.append)
    assert (sub_a.state, sub_b.state) == (LiveState.LIVE, LiveState.LIVE)

    joins = project.realtime.messages("phx_join")
    assert len(joins) == 2
    for join, user in zip(joins, (alice, bob), strict=True):
        assert token_subject(join["payload"]["access_token"]) == user.id
        bindings = join["payload"]["config"]["postgres_changes"]
        assert {b["filter"] for b in bindings} == {f"user_id=eq.{user.id}"}
        assert all(b["schema"] == "public" and b["event"] == "*" for b in bindings)
    assert {b["table"] for b in joins[1]["payload"]["config"]["postgres_changes"]} == {"tv_signals", "jobs"}

    signal_id = insert_signal(db, alice, strategy.id, symbol="USDJPY")  # the webhook's connection, not the app's
    await eventually(lambda: any(c.id == signal_id for c in alice_changes), what="alice's change")
    (change,) = alice_changes
    assert (change.table, change.op) == (Table.SIGNALS, "insert")
    assert isinstance(change.row, Signal) and change.row.symbol == "USDJPY"
    # The row was re-read through PostgREST as alice, so it is the same object a query gives.
    assert change.row == (await alice_port.get_signals([signal_id]))[0]
    await asyncio.sleep(0.5)
    assert bob_changes == []


async def test_a_dropped_socket_polls_reconnects_and_loses_nothing(db: Db, project: SupabaseProject,
                                                                   make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    # Polling slower than the outage: the change made meanwhile must come from the catch-up poll.
    port = await signed_in(make_adapter, user, live=LiveOptions(poll_interval=60, backoff=(0.1, 0.4)))
    strategy = await strategy_for(port)
    changes: list[Change] = []
    states: list[LiveState] = []
    sub = await port.subscribe([Table.SIGNALS], changes.append, states.append)
    assert state_now(sub) is LiveState.LIVE

    project.realtime.refuse()
    await project.realtime.drop_all()
    await eventually(lambda: sub.state is LiveState.POLLING, what="polling after the drop")
    missed = insert_signal(db, user, strategy.id, symbol="AUDUSD")
    await asyncio.sleep(1.0)  # reconnect attempts are refused meanwhile
    assert state_now(sub) is LiveState.POLLING and changes == []

    project.realtime.accept()
    await eventually(lambda: sub.state is LiveState.LIVE, what="live again")
    await eventually(lambda: any(c.id == missed for c in changes), what="the missed change")
    assert states == [LiveState.LIVE, LiveState.POLLING, LiveState.LIVE]
    assert len(project.realtime.messages("phx_join")) == 2
    assert [r.status for r in project.http.of("POST", "/rest/v1/rpc/changes_since")] == [200]

    after = insert_signal(db, user, strategy.id)
    await eventually(lambda: any(c.id == after for c in changes), what="a change after the reconnect")
    await sub.close()
    assert state_now(sub) is LiveState.CLOSED


async def test_while_the_socket_is_down_changes_are_polled(db: Db, project: SupabaseProject,
                                                           make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    port = await signed_in(make_adapter, user, live=LiveOptions(poll_interval=0.3, backoff=(30.0, 30.0)))
    strategy = await strategy_for(port)
    changes: list[Change] = []
    sub = await port.subscribe([Table.SIGNALS], changes.append)
    project.realtime.refuse()
    await project.realtime.drop_all()
    await eventually(lambda: sub.state is LiveState.POLLING)

    missed = insert_signal(db, user, strategy.id)
    await eventually(lambda: any(c.id == missed for c in changes), what="the polled change")
    assert state_now(sub) is LiveState.POLLING  # still down: it came from changes_since
    await sub.close()


async def test_the_socket_gets_each_refreshed_token_and_outlives_the_first(db: Db, project: SupabaseProject,
                                                                           make_adapter: MakeAdapter) -> None:
    user = db.create_user()
    project.http.auth.access_token_lifetime = 2  # Realtime ends a channel whose token expired
    port = await signed_in(make_adapter, user)
    strategy = await strategy_for(port)
    changes: list[Change] = []
    sub = await port.subscribe([Table.SIGNALS], changes.append)
    (join,) = project.realtime.messages("phx_join")
    first_token = join["payload"]["access_token"]

    await eventually(lambda: len(project.realtime.messages("access_token")) >= 2, within=8,
                     what="two refreshed tokens on the socket")
    pushed = [m["payload"]["access_token"] for m in project.realtime.messages("access_token")]
    assert first_token not in pushed and len(set(pushed)) == len(pushed)
    assert all(token_subject(t) == user.id for t in pushed)

    signal_id = insert_signal(db, user, strategy.id)  # the first token expired long ago
    await eventually(lambda: any(c.id == signal_id for c in changes), what="a change after the refreshes")
    assert state_now(sub) is LiveState.LIVE
    assert len(project.realtime.messages("phx_join")) == 1  # never closed by the server
    await sub.close()
