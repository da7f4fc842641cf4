"""The job lifecycle in SQL: claims, leases, fencing, retries, and what outcomes update."""

from __future__ import annotations

import json
import threading
from collections import Counter

import bcrypt
import psycopg
import pytest

from tests.pg import Agent, Db, User, hash_secret, key_digest

Row = dict[str, object]


def agent_call(conn: psycopg.Connection[Row], agent: Agent, query: str,
               params: tuple[object, ...] = ()) -> list[Row]:
    """Call as the agent's signed-in user, in one committed transaction."""
    with conn.transaction():
        conn.execute("select set_config('role', 'authenticated', true), "
                     "set_config('request.jwt.claims', %s, true)", (json.dumps(agent.user.claims),))
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def claim(conn: psycopg.Connection[Row], agent: Agent, key: str | None = None,
          lease: int = 60) -> Row | None:
    rows = agent_call(conn, agent, "select * from claim_next_job(%s, %s, %s)",
                      (agent.id, agent.key if key is None else key, lease))
    return rows[0] if rows else None


def enqueue(db: Db, user: User, n: int, job_type: str = "get_account",
            target: Agent | None = None) -> list[str]:
    rows = db.admin.execute(
        "insert into jobs (user_id, job_type, target_agent_id) "
        "select %s, %s, %s from generate_series(1, %s) returning id::text as id",
        (user.id, job_type, target.id if target else None, n)).fetchall()
    return [str(r["id"]) for r in rows]


def job(db: Db, job_id: object) -> Row:
    row = db.admin.execute("select * from jobs where id = %s", (job_id,)).fetchone()
    assert row is not None
    return row


def test_eight_concurrent_claimers_claim_each_of_2000_jobs_exactly_once(db: Db) -> None:
    alice, bob = db.create_user(), db.create_user()
    agents = [db.create_agent(alice, f"a{i}") for i in range(4)] + \
             [db.create_agent(bob, f"b{i}") for i in range(4)]
    # Half of each user's jobs name no agent; the rest are pinned to one of that user's agents.
    expected_owner: dict[str, str] = {}
    pinned: dict[str, str] = {}
    for user, mine in ((alice, agents[:4]), (bob, agents[4:])):
        for job_id in enqueue(db, user, 500):
            expected_owner[job_id] = user.id
        for i, agent in enumerate(mine):
            for job_id in enqueue(db, user, 125, target=agent):
                expected_owner[job_id] = user.id
                pinned[job_id] = agent.id
            del i
    assert len(expected_owner) == 2000

    claims: list[tuple[str, str, str]] = []  # (job, agent, agent owner)
    lock = threading.Lock()
    barrier = threading.Barrier(len(agents))
    failures: list[BaseException] = []

    def work(agent: Agent) -> None:
        try:
            with db.connect() as conn:
                barrier.wait()
                while (got := claim(conn, agent)) is not None:
                    with lock:
                        claims.append((str(got["id"]), agent.id, agent.user.id))
                    agent_call(conn, agent, "select complete_job(%s, %s, %s, %s, '{}')",
                               (agent.id, agent.key, got["id"], got["lease_token"]))
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures

    per_job = Counter(job_id for job_id, _, _ in claims)
    assert len(per_job) == 2000
    assert set(per_job.values()) == {1}
    for job_id, agent_id, owner in claims:
        assert expected_owner[job_id] == owner, "an agent got another user's job"
        if job_id in pinned:
            assert pinned[job_id] == agent_id
    status = db.admin.execute("select status, count(*) as n from jobs group by status").fetchall()
    assert status == [{"status": "completed", "n": 2000}]
    # Each agent did some of the unpinned work: the claims really ran concurrently.
    assert len({agent_id for _, agent_id, _ in claims}) == 8


def test_claims_and_completions_commit_without_waiting_for_the_log_flush_intents_and_failures_wait(
        db: Db) -> None:
    # Notifying commits are serialised until flushed. A claim or a completion lost in a crash
    # leaves the job held or waiting, and a held job with an intent is found on the terminal by its
    # token (20251219000000_completion_commit.sql); an order must not leave before its intent is on
    # disk, and a failed trade must not come back.
    user = db.create_user()
    agent = db.create_agent(user)
    enqueue(db, user, 4)

    def committed_with(conn: psycopg.Connection[Row], query: str, params: tuple[object, ...]) -> tuple[object, Row]:
        with conn.transaction():
            conn.execute("select set_config('role', 'authenticated', true), "
                         "set_config('request.jwt.claims', %s, true)", (json.dumps(agent.user.claims),))
            got = conn.execute(query, params).fetchone()
            assert got is not None
            row = conn.execute("select current_setting('synchronous_commit') as s").fetchone()
            assert row is not None
            return row["s"], got

    with db.connect(autocommit=True) as conn:
        conn.execute("set synchronous_commit = on")  # the tests' cluster runs with it off
        setting, held = committed_with(conn, "select * from claim_next_job(%s, %s)", (agent.id, agent.key))
        assert setting == "off"
        assert conn.execute("select current_setting('synchronous_commit') as s").fetchone() == {"s": "on"}
        setting, _ = committed_with(conn, "select * from record_job_intent(%s, %s, %s, %s, %s)",
                                    (agent.id, agent.key, held["id"], held["lease_token"], '{"token": "t1"}'))
        assert setting == "on"
        setting, _ = committed_with(conn, "select * from complete_job(%s, %s, %s, %s, '{}')",
                                    (agent.id, agent.key, held["id"], held["lease_token"]))
        assert setting == "off"
        second = claim(conn, agent)
        assert second is not None
        setting, held = committed_with(conn, "select * from complete_and_claim_next(%s, %s, %s, %s, '{}')",
                                       (agent.id, agent.key, second["id"], second["lease_token"]))
        assert setting == "off"
        setting, _ = committed_with(conn, "select * from fail_job(%s, %s, %s, %s, 'rejected')",
                                    (agent.id, agent.key, held["id"], held["lease_token"]))
        assert setting == "on"
    assert db.admin.execute("select status, count(*) from jobs group by status order by status").fetchall() == [
        {"status": "completed", "count": 2}, {"status": "failed", "count": 1}, {"status": "pending", "count": 1}]


def test_agent_never_gets_another_users_job(db: Db) -> None:
    alice, bob = db.create_user(), db.create_user()
    bobs_agent = db.create_agent(bob)
    enqueue(db, alice, 3)
    with db.connect() as conn:
        assert claim(conn, bobs_agent) is None
    assert db.admin.execute("select count(*) as n from jobs where status = 'pending'").fetchone() == {"n": 3}


@pytest.mark.parametrize("key", ["", "pk_" + "0" * 64, "not even a key", "x" * 500])
def test_wrong_or_missing_key_gets_nothing(db: Db, key: str) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    enqueue(db, user, 1)
    with db.connect() as conn, pytest.raises(psycopg.Error) as raised:
        claim(conn, agent, key=key)
    assert raised.value.sqlstate == "TNA01"
    assert db.admin.execute("select status, attempts from jobs").fetchone() == {"status": "pending", "attempts": 0}


def test_null_key_gets_nothing(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    enqueue(db, user, 1)
    with db.connect() as conn, pytest.raises(psycopg.Error) as raised:
        agent_call(conn, agent, "select * from claim_next_job(%s, null)", (agent.id,))
    assert raised.value.sqlstate == "TNA01"


def test_key_of_another_users_agent_is_refused_even_when_right(db: Db) -> None:
    alice, bob = db.create_user(), db.create_user()
    alices_agent = db.create_agent(alice)
    enqueue(db, alice, 1)
    impostor = Agent(alices_agent.id, bob, alices_agent.key)  # bob signed in, holding alice's key
    with db.connect() as conn, pytest.raises(psycopg.Error) as raised:
        claim(conn, impostor)
    assert raised.value.sqlstate == "TNA01"


def test_revoked_agent_and_re_paired_key(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    enqueue(db, user, 2)
    with db.connect() as conn:
        assert claim(conn, agent) is not None
        new_key = "pk_" + "ab" * 32
        db.admin.execute("update mt5_agents set pairing_key_hash = %s, pairing_key_sha256 = %s where id = %s",
                         (hash_secret(new_key), key_digest(new_key), agent.id))
        with pytest.raises(psycopg.Error, match="pairing key"):
            claim(conn, agent)  # the old key no longer counts
        assert claim(conn, agent, key=new_key) is not None
        db.admin.execute("update mt5_agents set revoked_at = now() where id = %s", (agent.id,))
        enqueue(db, user, 1)
        with pytest.raises(psycopg.Error, match="pairing key"):
            claim(conn, agent, key=new_key)


def test_the_key_is_checked_by_its_sha256_and_nothing_else(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    enqueue(db, user, 1)
    # A stored digest decides, whatever the bcrypt hash says: a key whose digest does not match is
    # refused even though it matches the hash (no slow check, no fallback).
    other = "pk_" + "cd" * 32
    db.admin.execute("update mt5_agents set pairing_key_hash = %s where id = %s", (hash_secret(other), agent.id))
    db.admin.execute("update mt5_agents set pairing_key_sha256 = %s where id = %s", (key_digest(agent.key), agent.id))
    with db.connect() as conn:
        with pytest.raises(psycopg.Error, match="pairing key"):
            claim(conn, agent, key=other)
        assert claim(conn, agent) is not None


def _has_pgcrypto(db: Db) -> bool:
    row = db.admin.execute("select to_regprocedure('extensions.crypt(text, text)') is not null as ok").fetchone()
    return bool(row and row["ok"])


@pytest.mark.parametrize("prefix", [b"2a", b"2b"])
def test_an_agent_paired_with_a_bcrypt_hash_only_is_checked_once_where_pgcrypto_exists(
        db: Db, prefix: bytes) -> None:
    # An earlier app version stored only the bcrypt hash ($2a$; Python's bcrypt writes $2b$ unless
    # told otherwise). With pgcrypto (Supabase, the system PostgreSQL) the key is checked once and
    # its digest kept; without it (the embedded PostgreSQL, which no earlier version used) the
    # agent must be paired again.
    user = db.create_user()
    agent = db.create_agent(user)
    legacy = bcrypt.hashpw(agent.key.encode(), bcrypt.gensalt(4, prefix=prefix)).decode()
    db.admin.execute("update mt5_agents set pairing_key_hash = %s, pairing_key_sha256 = null where id = %s",
                     (legacy, agent.id))
    enqueue(db, user, 2)
    stored = "select pairing_key_sha256 as d from mt5_agents where id = %s"
    with db.connect() as conn:
        with pytest.raises(psycopg.Error, match="pairing key"):
            claim(conn, agent, key="pk_" + "00" * 32)
        assert db.admin.execute(stored, (agent.id,)).fetchone() == {"d": None}
        if _has_pgcrypto(db):
            assert claim(conn, agent) is not None
            assert db.admin.execute(stored, (agent.id,)).fetchone() == {"d": key_digest(agent.key)}
            assert claim(conn, agent) is not None  # now by the digest
        else:
            with pytest.raises(psycopg.Error, match="pairing key") as refused:
                claim(conn, agent)
            assert refused.value.diag.message_hint == "Pair the agent again from the Agent view."
            assert db.admin.execute(stored, (agent.id,)).fetchone() == {"d": None}


def test_re_pairing_that_sets_only_a_new_hash_retires_the_old_digest(db: Db) -> None:
    # What an earlier app version does when it re-pairs: a new bcrypt hash, no digest. The old key
    # must stop working at once; the new one works where pgcrypto can check it.
    user = db.create_user()
    agent = db.create_agent(user)
    enqueue(db, user, 2)
    new_key = "pk_" + "ef" * 32
    db.admin.execute("update mt5_agents set pairing_key_hash = %s where id = %s", (hash_secret(new_key), agent.id))
    assert db.admin.execute("select pairing_key_sha256 as d from mt5_agents where id = %s",
                            (agent.id,)).fetchone() == {"d": None}
    with db.connect() as conn:
        with pytest.raises(psycopg.Error, match="pairing key"):
            claim(conn, agent)
        if _has_pgcrypto(db):
            assert claim(conn, agent, key=new_key) is not None


def test_oldest_first_with_a_tiebreaker_for_one_transaction(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    with db.connect() as conn, conn.transaction():
        ids = [str(conn.execute("insert into jobs (user_id, job_type, payload) values (%s, 'get_account', %s) "
                                "returning id", (user.id, json.dumps({"n": i}))).fetchone()["id"])  # type: ignore[index]
               for i in range(6)]
    got = []
    with db.connect() as conn:
        while (row := claim(conn, agent)) is not None:
            got.append(str(row["id"]))
    assert got == ids


def test_expired_lease_is_requeued_and_the_late_agent_is_refused(db: Db) -> None:
    user = db.create_user()
    slow, fresh = db.create_agent(user, "slow"), db.create_agent(user, "fresh")
    (job_id,) = enqueue(db, user, 1)
    with db.connect() as conn:
        first = claim(conn, slow)
        assert first is not None and first["attempts"] == 1
        db.admin.execute("update jobs set lease_expires_at = now() - interval '1 second' where id = %s",
                         (job_id,))
        second = claim(conn, fresh)
        assert second is not None and str(second["id"]) == job_id and second["attempts"] == 2
        for refused in ("select complete_job(%s, %s, %s, %s, '{\"late\": true}')",
                        "select record_job_intent(%s, %s, %s, %s, '{\"token\": \"late\"}')",
                        "select * from complete_and_claim_next(%s, %s, %s, %s, '{\"late\": true}')"):
            with pytest.raises(psycopg.Error) as raised:
                agent_call(conn, slow, refused, (slow.id, slow.key, job_id, first["lease_token"]))
            assert raised.value.sqlstate == "TNL01"
        with pytest.raises(psycopg.Error):
            agent_call(conn, slow, "select extend_job_lease(%s, %s, %s, %s)",
                       (slow.id, slow.key, job_id, first["lease_token"]))
        agent_call(conn, fresh, "select complete_job(%s, %s, %s, %s, '{\"ok\": true}')",
                   (fresh.id, fresh.key, job_id, second["lease_token"]))
    final = job(db, job_id)
    assert final["status"] == "completed" and final["result"] == {"ok": True} and final["intent"] is None
    assert str(final["agent_id"]) == fresh.id


def test_the_same_agent_restarted_cannot_report_with_its_old_claim(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    (job_id,) = enqueue(db, user, 1)
    with db.connect() as conn:
        old = claim(conn, agent)
        assert old is not None
        db.admin.execute("update jobs set lease_expires_at = now() - interval '1 second'")
        new = claim(conn, agent)
        assert new is not None and new["lease_token"] != old["lease_token"]
        with pytest.raises(psycopg.Error) as raised:
            agent_call(conn, agent, "select fail_job(%s, %s, %s, %s, 'stale')",
                       (agent.id, agent.key, job_id, old["lease_token"]))
        assert raised.value.sqlstate == "TNL01"
    assert job(db, job_id)["status"] == "running"


def test_lease_expiry_after_the_last_attempt_fails_the_job(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    db.admin.execute("insert into jobs (user_id, job_type, max_attempts) values (%s, 'get_account', 2)",
                     (user.id,))
    with db.connect() as conn:
        for attempt in (1, 2):
            got = claim(conn, agent)
            assert got is not None and got["attempts"] == attempt
            db.admin.execute("update jobs set lease_expires_at = now() - interval '1 second'")
        assert claim(conn, agent) is None
    final = db.admin.execute("select status, error_code, error_message from jobs").fetchone()
    assert final is not None
    assert (final["status"], final["error_code"]) == ("failed", "lease_expired")
    assert "stopped responding" in str(final["error_message"])


def test_the_lease_sweep_keeps_its_plan_and_sweeps_only_its_own_user(db: Db) -> None:
    # Planning the sweep again on every claim was a sixth of the server's time with 8 agents
    # (migration 20251222000000). A later `create or replace` of the function drops the setting
    # unless it says it again: this test is what notices.
    row = db.admin.execute("select proconfig from pg_proc "
                           "where oid = 'tnm_private.expire_leases(uuid)'::regprocedure").fetchone()
    assert row is not None and "plan_cache_mode=force_generic_plan" in row["proconfig"]
    # With the kept plan, a claim sweeps its own user's dead leases and no one else's; the
    # scheduler's sweep (no user) takes every user's.
    mine, theirs = db.create_user(), db.create_user()
    agent, their_agent = db.create_agent(mine), db.create_agent(theirs)
    enqueue(db, mine, 8)
    enqueue(db, theirs, 1)
    with db.connect() as conn:
        held = [claim(conn, agent) for _ in range(7)]  # more calls than the plan cache's first five
        assert all(h is not None for h in held)
        assert claim(conn, their_agent) is not None
        db.admin.execute("update jobs set lease_expires_at = now() - interval '1 second' where status = 'running'")
        again = claim(conn, agent)  # the sweep puts its 7 back; the claim takes the oldest of them
        assert again is not None and again["attempts"] == 2
    counts = db.admin.execute("select user_id = %s as mine, status, count(*) as n from jobs group by 1, 2 "
                              "order by 1, 2", (mine.id,)).fetchall()
    assert [(r["mine"], r["status"], r["n"]) for r in counts] == [
        (False, "running", 1), (True, "pending", 7), (True, "running", 1)]
    swept = db.admin.execute("select public.requeue_expired_jobs() as n").fetchone()
    assert swept == {"n": 1}
    left = db.admin.execute("select status from jobs where user_id = %s", (theirs.id,)).fetchall()
    assert left == [{"status": "pending"}]


def test_the_indexes_of_rarely_set_job_columns_hold_only_the_jobs_that_set_them(db: Db) -> None:
    # A claim or a completion wrote a null entry into both for every job (migration
    # 20251223000000). The lookups they serve name a value, so the partial indexes still serve
    # them, with a plan made for any value: a deleted agent or EA project, an agent's job list.
    for index, column in (("jobs_ea_project_set_idx", "ea_project_id"), ("jobs_target_agent_set_idx",
                                                                         "target_agent_id")):
        row = db.admin.execute("select indexdef from pg_indexes where schemaname = 'public' and indexname = %s",
                               (index,)).fetchone()
        assert row is not None and str(row["indexdef"]).endswith(f"WHERE ({column} IS NOT NULL)")
        with db.admin.transaction():
            db.admin.execute("set local plan_cache_mode = force_generic_plan")
            db.admin.execute("set local enable_seqscan = off")
            db.admin.execute(f"prepare lookup(uuid) as update jobs set {column} = null where {column} = $1")
            try:
                plan = "\n".join(str(r["QUERY PLAN"]) for r in db.admin.execute(
                    "explain execute lookup(gen_random_uuid())").fetchall())
            finally:
                db.admin.execute("deallocate lookup")
        assert f"Index Scan using {index}" in plan or f"Bitmap Index Scan on {index}" in plan, plan


def test_extending_keeps_the_lease(db: Db) -> None:
    user = db.create_user()
    agent, other = db.create_agent(user), db.create_agent(user, "other")
    enqueue(db, user, 1)
    with db.connect() as conn:
        got = claim(conn, agent, lease=5)
        assert got is not None
        until = agent_call(conn, agent, "select extend_job_lease(%s, %s, %s, %s, 300) as until",
                           (agent.id, agent.key, got["id"], got["lease_token"]))[0]["until"]
        row = db.admin.execute("select lease_expires_at > now() + interval '200 seconds' as long "
                               "from jobs").fetchone()
        assert row == {"long": True} and until is not None
        assert claim(conn, other) is None


def test_transient_failure_retries_later_then_fails_for_good(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    db.admin.execute("insert into jobs (user_id, job_type, max_attempts) values (%s, 'get_account', 2)",
                     (user.id,))
    with db.connect() as conn:
        got = claim(conn, agent)
        assert got is not None
        agent_call(conn, agent, "select fail_job(%s, %s, %s, %s, 'terminal busy', 'busy', null, true, 600)",
                   (agent.id, agent.key, got["id"], got["lease_token"]))
        assert claim(conn, agent) is None  # waiting out the retry delay
        db.admin.execute("update jobs set available_at = now()")
        got = claim(conn, agent)
        assert got is not None and got["attempts"] == 2
        agent_call(conn, agent, "select fail_job(%s, %s, %s, %s, 'terminal busy', 'busy', null, true, 0)",
                   (agent.id, agent.key, got["id"], got["lease_token"]))
    final = db.admin.execute("select status, error_message from jobs").fetchone()
    assert final == {"status": "failed", "error_message": "terminal busy"}


def test_trade_outcome_resolves_its_signal(db: Db) -> None:
    from tests.world import build_world

    world = build_world(db, db.create_user())
    strategy = world.ids["tv_strategies"]
    ids = []
    for _ in range(2):
        job_id = db.admin.execute("insert into jobs (user_id, job_type) values (%s, 'trade') returning id",
                                  (world.user.id,)).fetchone()["id"]  # type: ignore[index]
        signal = db.admin.execute(
            "insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload, job_id) "
            "values (%s, %s, 'EURUSD', 'buy', '{}', %s) returning id",
            (strategy, world.user.id, job_id)).fetchone()["id"]  # type: ignore[index]
        ids.append(signal)
    db.admin.execute("delete from jobs where job_type = 'compile'")
    agent = world.agent
    with db.connect() as conn:
        first = claim(conn, agent)
        assert first is not None
        agent_call(conn, agent, "select complete_job(%s, %s, %s, %s, %s)",
                   (agent.id, agent.key, first["id"], first["lease_token"],
                    json.dumps({"price": 1.08512, "order": 4242, "volume": 0.1})))
        second = claim(conn, agent)
        assert second is not None
        agent_call(conn, agent, "select fail_job(%s, %s, %s, %s, 'Market closed (10018)', '10018')",
                   (agent.id, agent.key, second["id"], second["lease_token"]))
    rows = db.admin.execute("select status, fill_price::float as fill, broker_order_id, error_message "
                            "from tv_signals where id = any(%s) order by received_at, id", (ids,)).fetchall()
    by_status = {r["status"]: r for r in rows}
    assert by_status["executed"]["fill"] == pytest.approx(1.08512)
    assert by_status["executed"]["broker_order_id"] == "4242"
    assert by_status["failed"]["error_message"] == "Market closed (10018)"


def test_the_status_effects_run_for_what_they_act_on_and_not_for_a_claim(db: Db) -> None:
    # A claim is on the path from an alert to its order: the work that resolves signals and
    # follows compiles must not run for it (20251220000000_status_trigger_when.sql, and since
    # 20251222000100 the one status trigger's own check).
    user = db.create_user()
    agent = db.create_agent(user)
    db.admin.execute("insert into jobs (user_id, job_type) values (%s, 'trade')", (user.id,))

    def calls() -> object:
        row = db.admin.execute("select coalesce(pg_stat_get_xact_function_calls("
                               "'tnm_private.job_status_effects(public.jobs, text)'::regprocedure), 0) as n").fetchone()
        assert row is not None
        return row["n"]

    with db.admin.transaction():
        db.admin.execute("set local track_functions = 'all'")
        got = db.admin.execute("select * from claim_next_job(%s, %s)", (agent.id, agent.key)).fetchone()
        assert got is not None
        assert calls() == 0
        db.admin.execute("select complete_job(%s, %s, %s, %s, '{}')",
                         (agent.id, agent.key, got["id"], got["lease_token"]))
        assert calls() == 1


def test_compile_job_updates_its_version(db: Db) -> None:
    from tests.world import build_world

    world = build_world(db, db.create_user())
    version = world.ids["ea_versions"]
    db.admin.execute("delete from jobs")
    db.call_as(world.user, "insert into jobs (user_id, job_type, payload) values (%s, 'compile', %s)",
               (world.user.id, json.dumps({"version_id": version})))

    def state() -> object:
        return db.admin.execute("select compile_status from ea_versions where id = %s",
                                (version,)).fetchone()["compile_status"]  # type: ignore[index]

    assert state() == "queued"
    with db.connect() as conn:
        got = claim(conn, world.agent)
        assert got is not None
        assert state() == "compiling"
        agent_call(conn, world.agent, "select complete_job(%s, %s, %s, %s, %s)",
                   (world.agent.id, world.agent.key, got["id"], got["lease_token"],
                    json.dumps({"success": False, "log": "ma.mq5(12,5) : error 256: undeclared identifier"})))
    row = db.admin.execute("select compile_status, compile_log from ea_versions where id = %s",
                           (version,)).fetchone()
    assert row == {"compile_status": "failed",
                   "compile_log": "ma.mq5(12,5) : error 256: undeclared identifier"}


def test_recovery_hands_back_held_jobs_with_new_tokens(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    enqueue(db, user, 2)
    with db.connect() as conn:
        held = claim(conn, agent)
        assert held is not None
        recovered = agent_call(conn, agent, "select * from recover_agent_jobs(%s, %s)", (agent.id, agent.key))
    assert [str(r["id"]) for r in recovered] == [str(held["id"])]
    assert recovered[0]["lease_token"] != held["lease_token"]


def test_recovery_reopens_a_trade_failed_by_expiry_after_its_intent(db: Db) -> None:
    from tests.world import build_world

    # Its signal, failed with it, goes back to waiting: the reconciliation decides its outcome.
    world = build_world(db, db.create_user())
    agent = world.agent
    db.admin.execute("delete from jobs")
    job_id = db.admin.execute("insert into jobs (user_id, job_type, max_attempts) values (%s, 'trade', 1) "
                              "returning id", (world.user.id,)).fetchone()["id"]  # type: ignore[index]
    signal = db.admin.execute(
        "insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload, job_id) "
        "values (%s, %s, 'EURUSD', 'buy', '{}', %s) returning id",
        (world.ids["tv_strategies"], world.user.id, job_id)).fetchone()["id"]  # type: ignore[index]

    def signal_status() -> object:
        return db.admin.execute("select status from tv_signals where id = %s",
                                (signal,)).fetchone()["status"]  # type: ignore[index]

    with db.connect() as conn:
        got = claim(conn, agent)
        assert got is not None
        agent_call(conn, agent, "select record_job_intent(%s, %s, %s, %s, %s)",
                   (agent.id, agent.key, got["id"], got["lease_token"], json.dumps({"volume": 0.1})))
        db.admin.execute("update jobs set lease_expires_at = now() - interval '1 second'")
        assert claim(conn, agent) is None
        assert job(db, got["id"])["status"] == "failed"
        assert signal_status() == "failed"
        recovered = agent_call(conn, agent, "select * from recover_agent_jobs(%s, %s)", (agent.id, agent.key))
    assert [r["id"] for r in recovered] == [got["id"]]
    assert job(db, got["id"])["status"] == "running"
    assert signal_status() == "pending"


def test_user_can_cancel_only_a_waiting_job(db: Db) -> None:
    user = db.create_user()
    agent = db.create_agent(user)
    waiting, started = enqueue(db, user, 2)
    with db.connect() as conn:
        got = claim(conn, agent)
        assert got is not None and str(got["id"]) == waiting
    with pytest.raises(psycopg.Error) as raised:
        db.call_as(user, "select cancel_job(%s)", (waiting,))
    assert raised.value.sqlstate == "TNV01"
    db.call_as(user, "select cancel_job(%s)", (started,))
    assert job(db, started)["status"] == "cancelled"


def test_record_sync_updates_account_health(db: Db) -> None:
    from tests.world import build_world

    world = build_world(db, db.create_user())
    agent = world.agent
    account = {"login": 5001, "server": "Demo-Server", "balance": 10500.5, "equity": 10480.25,
               "currency": "USD", "server_time_offset": 7200}
    trades = [{"ticket": 7001, "symbol": "EURUSD.m", "side": "buy", "entry": "in", "volume": 0.1,
               "price": 1.1, "executed_at": "2026-11-20T10:00:00Z"},
              {"ticket": 7002, "symbol": "EURUSD.m", "side": "sell", "entry": "out", "volume": 0.1,
               "price": 1.101, "profit": 10, "executed_at": "2026-11-20T11:00:00Z"}]
    with db.connect() as conn:
        for status, error in (("success", None), ("failed", "IPC timeout (-10005)"), ("success", None)):
            agent_call(conn, agent, "select record_sync(%s, %s, 'scheduled', %s, now(), 120, %s, %s, %s)",
                       (agent.id, agent.key, status, json.dumps(account), json.dumps(trades), error))
        health = agent_call(conn, agent, "select * from account_sync_health")
        failures = agent_call(conn, agent, "select * from recent_sync_failures")
    assert len(health) == 1
    row = health[0]
    assert row["balance"] == pytest.approx(10500.5)
    assert row["sync_failure_count"] == 0
    # Three syncs here plus the failed one build_world logged.
    assert (row["total_syncs_24h"], row["successful_syncs_24h"], row["failed_syncs_24h"]) == (4, 2, 2)
    assert failures[0]["error_message"] == "IPC timeout (-10005)"
    counts = db.admin.execute("select trades_synced from sync_logs where sync_type = 'scheduled' "
                              "and status = 'success' order by created_at").fetchall()
    assert [c["trades_synced"] for c in counts] == [2, 0]  # the second sync found nothing new


def complete_and_claim(conn: psycopg.Connection[Row], agent: Agent, held: Row, result: str = "{}",
                       key: str | None = None) -> Row | None:
    rows = agent_call(conn, agent, "select * from complete_and_claim_next(%s, %s, %s, %s, %s)",
                      (agent.id, agent.key if key is None else key, held["id"], held["lease_token"], result))
    return rows[0] if rows else None


def test_complete_and_claim_completes_then_hands_out_the_next_oldest_job(db: Db) -> None:
    alice, bob = db.create_user(), db.create_user()
    agent, other = db.create_agent(alice, "desk"), db.create_agent(alice, "vps")
    bobs = db.create_agent(bob)
    first, second = enqueue(db, alice, 2)
    (pinned_elsewhere,) = enqueue(db, alice, 1, target=other)
    enqueue(db, bob, 1, target=bobs)
    (last,) = enqueue(db, alice, 1, target=agent)
    with db.connect() as conn:
        held = claim(conn, agent)
        assert held is not None and str(held["id"]) == first
        following = complete_and_claim(conn, agent, held, '{"balance": 1}')
        assert following is not None and str(following["id"]) == second
        assert following["status"] == "running" and following["attempts"] == 1
        assert following["lease_token"] is not None and str(following["agent_id"]) == agent.id
        done = job(db, first)
        assert done["status"] == "completed" and done["result"] == {"balance": 1}
        assert done["lease_token"] is None and done["completed_at"] is not None
        following = complete_and_claim(conn, agent, following)
        assert following is not None and str(following["id"]) == last  # not the job pinned to the other agent
        assert complete_and_claim(conn, agent, following) is None  # nothing left for this agent
    statuses = {r["id"]: r["status"] for r in db.admin.execute("select id::text as id, status from jobs").fetchall()}
    assert [statuses[j] for j in (first, second, last)] == ["completed"] * 3
    assert statuses[pinned_elsewhere] == "pending"
    assert sorted(statuses.values()).count("pending") == 2  # bob's job too


def test_complete_and_claim_refuses_a_stale_lease_or_a_wrong_key_and_claims_nothing(db: Db) -> None:
    user = db.create_user()
    slow, fresh = db.create_agent(user, "slow"), db.create_agent(user, "fresh")
    job_id, waiting = enqueue(db, user, 2)
    with db.connect() as conn:
        first = claim(conn, slow)
        assert first is not None and str(first["id"]) == job_id
        for key, sqlstate in (("pk_" + "0" * 64, "TNA01"), (slow.key, "TNL01")):
            if sqlstate == "TNL01":  # the lease ran out and the job went to another agent
                db.admin.execute("update jobs set lease_expires_at = now() - interval '1 second' where id = %s",
                                 (job_id,))
                again = claim(conn, fresh)
                assert again is not None and str(again["id"]) == job_id
            with pytest.raises(psycopg.Error) as raised:
                complete_and_claim(conn, slow, first, '{"late": true}', key=key)
            assert raised.value.sqlstate == sqlstate
            assert job(db, waiting)["status"] == "pending"  # the claim went with the refused completion
    held = job(db, job_id)
    assert (held["status"], held["result"], str(held["agent_id"])) == ("running", None, fresh.id)


def test_eight_agents_completing_and_claiming_in_one_call_take_each_job_once(db: Db) -> None:
    user = db.create_user()
    agents = [db.create_agent(user, f"a{i}") for i in range(8)]
    jobs = set(enqueue(db, user, 800))
    taken: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(agents))
    failures: list[BaseException] = []

    def work(agent: Agent) -> None:
        try:
            with db.connect() as conn:
                barrier.wait()
                held = claim(conn, agent)
                while held is not None:
                    with lock:
                        taken.append(str(held["id"]))
                    held = complete_and_claim(conn, agent, held)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures
    assert sorted(taken) == sorted(jobs)  # each exactly once
    rows = db.admin.execute("select status, attempts, count(*) as n from jobs group by status, attempts").fetchall()
    assert rows == [{"status": "completed", "attempts": 1, "n": 800}]
