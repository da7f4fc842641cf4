"""Migrations apply like `supabase db push`, twice without harm; seed 000 rolls back cleanly."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from tnm_desktop.paths import sql_dir
from tnm_desktop.pgcluster import LocalCluster, migrate

from tests.pg import Agent, Db, drop_test_database, hash_secret, key_digest
from tests.sql.test_schema_lint import check_all
from tests.world import build_world


def test_migrations_run_in_file_name_order_base_first() -> None:
    names = [f"{m.version}_{m.name}" for m in migrate.migrations()]
    assert names == sorted(names)
    assert names[0].endswith("_base_schema")
    assert "20251113000000_mt5_integration_schema_updates" in names
    assert names.index("20251113000000_mt5_integration_schema_updates") < \
        names.index("20251120000000_tech_plan_additions")


def test_every_migration_is_recorded(db: Db) -> None:
    rows = db.admin.execute("select version from supabase_migrations.schema_migrations order by 1").fetchall()
    assert [r["version"] for r in rows] == [m.version for m in migrate.migrations()]


def test_all_migrations_apply_twice_in_a_row_without_error(db: Db) -> None:
    world = build_world(db, db.create_user())
    with psycopg.connect(db.url, autocommit=True) as conn:
        migrate.apply_compat(conn)
        for _ in range(2):
            for migration in migrate.migrations():
                migrate.apply(conn, migration)
    # Data survives re-application, and the schema still works end to end.
    row = db.admin.execute("select count(*) as n from tv_signals where user_id = %s", (world.user.id,)).fetchone()
    assert row == {"n": 1}
    policies = db.admin.execute("select count(*) as n from pg_policies where schemaname = 'public'").fetchone()
    assert policies is not None and policies["n"] > 20
    check_all(db.admin)  # the earlier migrations put definer functions back in public; the later ones move them


def test_seed_000_rollback_keeps_trading_account_data_and_reapplies(db: Db) -> None:
    world = build_world(db, db.create_user())
    account = world.ids["trading_accounts"]
    db.admin.execute("update trading_accounts set connection_status = 'active', name = 'Main', "
                     "sync_failure_count = 3 where id = %s", (account,))
    before = db.admin.execute("select login, server, balance, name, connection_status, user_id "
                              "from trading_accounts where id = %s", (account,)).fetchone()
    rollback = sql_dir() / "rollback" / "20251113000001_mt5_integration_schema_rollback.sql"
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(rollback.read_text())
        conn.execute(rollback.read_text())  # harmless twice
    after = db.admin.execute("select login, server, balance, name, connection_status, user_id "
                             "from trading_accounts where id = %s", (account,)).fetchone()
    assert after == before
    gone = db.admin.execute(
        "select count(*) as n from information_schema.columns where table_name = 'trading_accounts' "
        "and column_name in ('mt5_service_account_id', 'last_connection_error', 'last_successful_sync_at', "
        "'sync_failure_count', 'broker_server_time_offset')").fetchone()
    assert gone == {"n": 0}
    assert db.admin.execute("select to_regclass('public.sync_logs') as t").fetchone() == {"t": None}
    with pytest.raises(psycopg.errors.CheckViolation):
        db.admin.execute("update trading_accounts set connection_status = 'active' where id = %s", (account,))

    with psycopg.connect(db.url, autocommit=True) as conn:
        ran = migrate.apply_pending(conn)
    assert ran[0].version == "20251113000000"
    restored = db.admin.execute("select sync_failure_count, name from trading_accounts where id = %s",
                                (account,)).fetchone()
    assert restored == {"sync_failure_count": 0, "name": "Main"}
    # What later migrations hung on sync_logs is back too: the live-update trigger fires.
    triggers = db.admin.execute("select array_agg(tgname::text order by tgname) as names from pg_trigger "
                                "where tgrelid = 'public.sync_logs'::regclass and not tgisinternal").fetchone()
    assert triggers == {"names": ["sync_logs_failing_notify", "sync_logs_notify"]}


@pytest.fixture
def previous_version(pg_cluster: LocalCluster) -> Iterator[Db]:
    """A database migrated as the app before 20251201 left it."""
    name = f"before_{secrets.token_hex(4)}"
    with psycopg.connect(pg_cluster.conninfo(dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    db = Db(pg_cluster, name)
    try:
        with psycopg.connect(db.url, autocommit=True) as conn:
            migrate.apply_compat(conn)
            migrate.applied(conn)  # creates the table that records them
            for migration in migrate.migrations():
                if migration.version < "20251201":
                    migrate.apply(conn, migration)
        yield db
    finally:
        drop_test_database(db)


def test_a_database_of_the_previous_version_migrates_forward(previous_version: Db) -> None:
    db = previous_version
    assert db.admin.execute("select prosecdef from pg_proc where oid = "
                            "'public.claim_next_job(uuid, text, integer)'::regprocedure").fetchone() == {"prosecdef": True}
    user = db.create_user()
    keys = {name: "pk_" + secrets.token_hex(32) for name in ("claimed", "never")}
    agents = {}
    for name, key in keys.items():  # as that version paired them: the bcrypt hash only
        row = db.admin.execute("insert into mt5_agents (user_id, name, pairing_key_hash, pairing_key_prefix) "
                               "values (%s, %s, %s, %s) returning id::text as id",
                               (user.id, name, hash_secret(key), key[:11])).fetchone()
        assert row is not None
        agents[name] = Agent(str(row["id"]), user, key)
    # What that version's first claim left behind: the key's digest, tied to the hash it matched.
    db.admin.execute("insert into tnm_private.agent_key_cache (agent_id, key_digest, verified_hash) "
                     "select id, sha256(convert_to(%s, 'UTF8')), pairing_key_hash from mt5_agents where id = %s",
                     (keys["claimed"], agents["claimed"].id))
    broker = db.admin.execute("insert into broker_connections (user_id, agent_id, name) values (%s, %s, 'B') "
                              "returning id", (user.id, agents["claimed"].id)).fetchone()
    assert broker is not None
    strategy = db.admin.execute("insert into tv_strategies (user_id, broker_connection_id, name) values (%s, %s, 'S') "
                                "returning id, webhook_secret", (user.id, broker["id"])).fetchone()
    assert strategy is not None
    db.admin.execute("insert into jobs (user_id, job_type) select %s, 'get_account' from generate_series(1, 3)",
                     (user.id,))

    with psycopg.connect(db.url, autocommit=True) as conn:
        ran = migrate.apply_pending(conn)
    assert [m.version for m in ran] == [m.version for m in migrate.migrations() if m.version >= "20251201"]

    check_all(db.admin)
    stored = db.admin.execute("select name, pairing_key_sha256 as d from mt5_agents order by name").fetchall()
    assert stored == [{"name": "claimed", "d": key_digest(keys["claimed"])}, {"name": "never", "d": None}]
    assert db.admin.execute("select to_regclass('tnm_private.agent_key_cache') as t").fetchone() == {"t": None}
    claim = "select * from claim_next_job(%s, %s, 60)"
    assert len(db.call_as(user, claim, (agents["claimed"].id, keys["claimed"]))) == 1
    pgcrypto = db.admin.execute("select to_regprocedure('extensions.crypt(text, text)') is not null as ok").fetchone()
    if pgcrypto == {"ok": True}:  # every database that version made had it
        assert len(db.call_as(user, claim, (agents["never"].id, keys["never"]))) == 1
    else:
        with pytest.raises(psycopg.Error, match="pairing key"):
            db.call_as(user, claim, (agents["never"].id, keys["never"]))
    # Secrets: the old one still routes; a rotation draws a new one from core functions.
    assert db.admin.execute("select webhook_secret from tv_strategies").fetchone() == {
        "webhook_secret": strategy["webhook_secret"]}
    rotated = db.call_as(user, "select rotate_strategy_secret(%s) as s", (strategy["id"],))
    assert re.fullmatch(r"[0-9a-f]{48}", str(rotated[0]["s"])) and rotated[0]["s"] != strategy["webhook_secret"]


@pytest.fixture
def without_visibility(pg_cluster: LocalCluster) -> Iterator[Db]:
    """A database migrated by a version without the 20251211 migrations, which landed after later-named ones."""
    name = f"before_{secrets.token_hex(4)}"
    with psycopg.connect(pg_cluster.conninfo(dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    db = Db(pg_cluster, name)
    try:
        with psycopg.connect(db.url, autocommit=True) as conn:
            migrate.apply_compat(conn)
            migrate.applied(conn)
            for migration in migrate.migrations():
                if not migration.version.startswith("20251211"):
                    migrate.apply(conn, migration)
        yield db
    finally:
        drop_test_database(db)


def test_migrations_that_land_out_of_name_order_keep_every_job_type(without_visibility: Db) -> None:
    from tnm_desktop.domain import JobType

    db = without_visibility
    user = db.create_user()
    # Jobs of every type that version knew are there when the late migrations arrive.
    db.admin.execute("insert into jobs (user_id, job_type, status) select %s, t, 'completed' from unnest(%s::text[]) t",
                     (user.id, [t.value for t in JobType]))
    with psycopg.connect(db.url, autocommit=True) as conn:
        ran = migrate.apply_pending(conn)
    assert ran and all(m.version.startswith("20251211") for m in ran)
    db.admin.execute("insert into jobs (user_id, job_type) select %s, t from unnest(%s::text[]) t",
                     (user.id, [t.value for t in JobType]))  # every type is still allowed


def test_every_job_type_is_allowed_after_every_migration(db: Db) -> None:
    from tnm_desktop.domain import JobType

    user = db.create_user()
    db.admin.execute("insert into jobs (user_id, job_type) select %s, t from unnest(%s::text[]) t",
                     (user.id, [t.value for t in JobType]))
    with pytest.raises(psycopg.errors.CheckViolation):
        db.admin.execute("insert into jobs (user_id, job_type) values (%s, 'make_coffee')", (user.id,))
