"""A signal traded on two accounts is resolved when its last leg finishes, even when both legs
finish at the same moment on two agents (each in its own transaction, neither committed first)."""

from __future__ import annotations

import json
import threading
import time

import psycopg

from tests.pg import Agent, Db
from tests.sql.test_jobs import agent_call, claim
from tests.world import build_world

Row = dict[str, object]


def _as_agent(conn: psycopg.Connection[Row], agent: Agent) -> None:
    conn.execute("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                 (json.dumps(agent.user.claims),))


def _waiting_on_a_lock(db: Db, pid: int) -> bool:
    row = db.admin.execute("select wait_event_type from pg_stat_activity where pid = %s", (pid,)).fetchone()
    return row is not None and row["wait_event_type"] == "Lock"


def test_two_legs_finished_at_once_resolve_their_signal(db: Db) -> None:
    world = build_world(db, db.create_user())
    user, main = world.user, world.agent
    prop = db.create_agent(user, "prop desk")
    db.admin.execute("delete from jobs where job_type = 'compile'")
    signal = db.admin.execute(
        "insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload) "
        "values (%s, %s, 'EURUSD', 'buy', '{}') returning id", (world.ids["tv_strategies"], user.id)).fetchone()
    assert signal is not None
    for leg, (agent, name) in enumerate(((main, "Main"), (prop, "Prop")), start=1):
        db.admin.execute("insert into jobs (user_id, job_type, signal_id, target_agent_id, payload) "
                         "values (%s, 'trade', %s, %s, %s)",
                         (user.id, signal["id"], agent.id, json.dumps({"leg": leg, "connection_name": name})))
    with db.connect() as first_conn, db.connect() as second_conn:
        first, second = claim(first_conn, main), claim(second_conn, prop)
        assert first is not None and second is not None
        failed: list[BaseException] = []

        def fail_second() -> None:  # the prop account's agent, at the same moment
            try:
                agent_call(second_conn, prop, "select fail_job(%s, %s, %s, %s, 'No money (retcode 10019)', '10019')",
                           (prop.id, prop.key, second["id"], second["lease_token"]))
            except BaseException as exc:  # reported by the main thread
                failed.append(exc)

        with first_conn.transaction():  # the main account's report, not yet committed
            _as_agent(first_conn, main)
            first_conn.execute("select complete_job(%s, %s, %s, %s, %s)",
                               (main.id, main.key, first["id"], first["lease_token"],
                                json.dumps({"price": 1.085, "order": 77, "note": ""})))
            other = threading.Thread(target=fail_second)
            other.start()
            # The prop report either waits for this one (the signal's lock), or it has already
            # counted this leg as running and committed: the bug this test is about.
            deadline = time.monotonic() + 30
            while other.is_alive() and not _waiting_on_a_lock(db, second_conn.info.backend_pid):
                assert time.monotonic() < deadline, "the second report neither finished nor waited"
                other.join(0.01)
        other.join(30)
        assert not other.is_alive() and not failed, failed
    row = db.admin.execute("select status, error_message from tv_signals where id = %s", (signal["id"],)).fetchone()
    assert row == {"status": "failed",
                   "error_message": "1 of 2 accounts failed — Main: done; Prop: No money (retcode 10019)"}
