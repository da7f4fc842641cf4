"""Migrations apply like `supabase db push`, twice without harm; seed 000 rolls back cleanly."""

from __future__ import annotations

import psycopg
import pytest
from tnm_desktop.localdb import migrate
from tnm_desktop.paths import sql_dir

from tests.pg import Db
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
