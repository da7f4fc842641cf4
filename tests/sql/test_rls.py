"""Row-level security: two users never see or touch each other's rows; anon sees nothing."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest
from psycopg import errors

from tests.pg import Db
from tests.world import World, build_world


@dataclass(frozen=True)
class Spec:
    """How a user may write to one table (None: not at all)."""

    owner: str = "user_id"
    key: str = "id"
    update: str | None = None  # a SET clause the user is granted
    delete: bool = False
    insert: str | None = None  # an INSERT naming the victim's ids as {user} and {<table>}


TABLES: dict[str, Spec] = {
    "profiles": Spec(owner="id", update="display_name = 'hacked'"),
    "user_settings": Spec(key="user_id", update="risk_percent = 9"),
    "mt5_agents": Spec(update="name = 'hacked'", delete=True,
                       insert="insert into mt5_agents (user_id, name) values ('{user}', 'x')"),
    "broker_connections": Spec(
        update="name = 'hacked'", delete=True,
        insert="insert into broker_connections (user_id, name) values ('{user}', 'x')"),
    "trading_accounts": Spec(
        update="name = 'hacked'", delete=True,
        insert="insert into trading_accounts (user_id, login, server) values ('{user}', 1, 's')"),
    "trades": Spec(),
    "ea_projects": Spec(update="name = 'hacked'", delete=True,
                        insert="insert into ea_projects (user_id, name) values ('{user}', 'x')"),
    "ea_versions": Spec(
        delete=True,
        insert="insert into ea_versions (project_id, user_id, source_code) "
               "values ('{ea_projects}', '{user}', 'x')"),
    "jobs": Spec(insert="insert into jobs (user_id, job_type) values ('{user}', 'compile')"),
    "tv_strategies": Spec(
        update="name = 'hacked'", delete=True,
        insert="insert into tv_strategies (user_id, broker_connection_id, name) "
               "values ('{user}', '{broker_connections}', 'x')"),
    "tv_signals": Spec(),
    # Keyed by the strategy: the world's strategy has one connection, its own.
    "strategy_connections": Spec(
        key="strategy_id", update="volume_multiplier = 9", delete=True,
        insert="insert into strategy_connections (strategy_id, broker_connection_id, user_id) "
               "values ('{tv_strategies}', '{broker_connections}', '{user}')"),
    "sync_logs": Spec(),
    # Written only by the agent's position_rule_step; the events keyed by their rule.
    "position_rules": Spec(),
    "position_rule_events": Spec(key="rule_id"),
    # Written only by the agent (record_broker_symbols); keyed by its connection, one symbol per world.
    "broker_symbols": Spec(key="broker_connection_id"),
    "notification_settings": Spec(key="user_id", update="telegram_chat_id = 'hacked'",
                                  insert="insert into notification_settings (user_id) values ('{user}')"),
    "notifications": Spec(insert="insert into notifications (user_id, event_key, kind, title) "
                                 "values ('{user}', 'forged', 'agent_down', 'x')"),
    # Claimed and reported through claim_notifications / finish_notification only.
    "notification_deliveries": Spec(key="notification_id"),
    # Written by the agent only (record_positions).
    "position_snapshots": Spec(),
    "account_equity": Spec(key="account_id"),
    # Written only by the agent (record_daily_loss); one agent per world.
    "daily_loss_locks": Spec(key="agent_id"),
}
VIEWS = ["recent_sync_failures", "account_sync_health"]


@pytest.fixture
def worlds(db: Db) -> tuple[World, World]:
    return build_world(db, db.create_user()), build_world(db, db.create_user())


def test_every_public_table_is_covered_and_has_rls(db: Db) -> None:
    rows = db.admin.execute(
        "select c.relname, c.relrowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind = 'r'").fetchall()
    assert {r["relname"] for r in rows} == set(TABLES)
    assert all(r["relrowsecurity"] for r in rows)
    views = db.admin.execute(
        "select c.relname, c.reloptions from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind = 'v'").fetchall()
    assert {v["relname"] for v in views} == set(VIEWS)
    assert all("security_invoker=true" in (v["reloptions"] or []) for v in views)


def test_policies_evaluate_auth_uid_once_per_statement(db: Db) -> None:
    rows = db.admin.execute(
        "select tablename, policyname, coalesce(qual, '') || ' ' || coalesce(with_check, '') as expr "
        "from pg_policies where schemaname = 'public'").fetchall()
    assert rows
    for row in rows:
        expr = str(row["expr"])
        assert "auth.uid()" in expr, row
        assert "( SELECT auth.uid() AS uid)" in expr, f"{row['policyname']} calls auth.uid() per row"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_other_user_sees_none_of_the_rows(db: Db, worlds: tuple[World, World], table: str) -> None:
    alice, bob = worlds
    spec = TABLES[table]
    owner = spec.owner
    with db.as_user(bob.user) as conn:
        visible = conn.execute(f"select {owner}::text as owner from public.{table}").fetchall()
        by_id = conn.execute(f"select count(*) as n from public.{table} where {spec.key}::text = %s",
                             (alice.ids[table],)).fetchone()
    assert visible, "bob sees his own rows"
    assert {row["owner"] for row in visible} == {bob.user.id}
    assert by_id is not None and by_id["n"] == 0
    with db.as_user(alice.user) as conn:
        mine = conn.execute(f"select count(*) as n from public.{table} where {spec.key}::text = %s",
                            (alice.ids[table],)).fetchone()
    assert mine is not None and mine["n"] == 1


@pytest.mark.parametrize("table", sorted(TABLES))
def test_other_user_cannot_update_or_delete(db: Db, worlds: tuple[World, World], table: str) -> None:
    alice, bob = worlds
    spec = TABLES[table]
    before = db.admin.execute(f"select * from public.{table} where {spec.key}::text = %s",
                              (alice.ids[table],)).fetchone()
    with db.as_user(bob.user) as conn:
        if spec.update:
            cur = conn.execute(f"update public.{table} set {spec.update} where {spec.key}::text = %s",
                               (alice.ids[table],))
            assert cur.rowcount == 0
        else:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"update public.{table} set {spec.key} = {spec.key} where {spec.key}::text = %s",
                             (alice.ids[table],))
    with db.as_user(bob.user) as conn:
        if spec.delete:
            cur = conn.execute(f"delete from public.{table} where {spec.key}::text = %s", (alice.ids[table],))
            assert cur.rowcount == 0
        else:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"delete from public.{table} where {spec.key}::text = %s", (alice.ids[table],))
    after = db.admin.execute(f"select * from public.{table} where {spec.key}::text = %s",
                             (alice.ids[table],)).fetchone()
    assert after == before


@pytest.mark.parametrize("table", sorted(TABLES))
def test_other_user_cannot_insert_as_the_owner(db: Db, worlds: tuple[World, World], table: str) -> None:
    alice, bob = worlds
    spec = TABLES[table]
    count = db.admin.execute(f"select count(*) as n from public.{table}").fetchone()
    statement = (spec.insert.format(user=alice.user.id, **alice.ids) if spec.insert
                 else f"insert into public.{table} select * from public.{table} limit 1")
    with db.as_user(bob.user) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)
    assert db.admin.execute(f"select count(*) as n from public.{table}").fetchone() == count


@pytest.mark.parametrize("table", ["ea_versions", "tv_strategies"])
def test_own_row_cannot_hang_on_another_users_parent(
        db: Db, worlds: tuple[World, World], table: str) -> None:
    alice, bob = worlds
    spec = TABLES[table]
    assert spec.insert
    with db.as_user(bob.user) as conn, pytest.raises(errors.ForeignKeyViolation):
        conn.execute(spec.insert.format(user=bob.user.id, **alice.ids))


def test_a_strategy_cannot_be_linked_to_another_users_connection_or_strategy(
        db: Db, worlds: tuple[World, World]) -> None:
    alice, bob = worlds
    for strategy, connection in ((alice.ids["tv_strategies"], bob.ids["broker_connections"]),
                                 (bob.ids["tv_strategies"], alice.ids["broker_connections"])):
        with db.as_user(bob.user) as conn, pytest.raises(errors.ForeignKeyViolation):
            conn.execute("insert into strategy_connections (strategy_id, broker_connection_id, user_id) "
                         "values (%s, %s, %s)", (strategy, connection, bob.user.id))


@pytest.mark.parametrize("relation", sorted(TABLES) + VIEWS)
def test_anon_sees_nothing(db: Db, worlds: tuple[World, World], relation: str) -> None:
    with db.as_anon() as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(f"select * from public.{relation}")


@pytest.mark.parametrize("view", VIEWS)
def test_views_show_each_user_only_their_own(db: Db, worlds: tuple[World, World], view: str) -> None:
    alice, bob = worlds
    for world in worlds:
        with db.as_user(world.user) as conn:
            rows = conn.execute(f"select account_id::text as account from public.{view}").fetchall()
        assert [r["account"] for r in rows] == [world.ids["trading_accounts"]]
    with db.as_service() as conn:
        everyone = conn.execute(f"select count(*) as n from public.{view}").fetchone()
    assert everyone is not None and everyone["n"] == 2
    del alice, bob


def test_anon_can_execute_no_function(db: Db) -> None:
    rows = db.admin.execute(
        "select p.oid::regprocedure::text as fn from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname in ('public', 'tnm_private', 'tnm_privileged') "
        "and has_function_privilege('anon', p.oid, 'execute')"
    ).fetchall()
    assert rows == []


def test_security_definer_functions_pin_search_path(db: Db) -> None:
    rows = db.admin.execute(
        "select p.oid::regprocedure::text as fn, p.proconfig from pg_proc p "
        "join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname in ('public', 'tnm_private', 'tnm_privileged') and p.prosecdef").fetchall()
    assert len(rows) >= 10
    for row in rows:
        assert "search_path=\"\"" in (row["proconfig"] or []), row["fn"]


def test_private_schema_is_closed_to_api_roles(db: Db) -> None:
    for role in ("anon", "authenticated"):
        row = db.admin.execute("select has_schema_privilege(%s, 'tnm_private', 'usage') as ok",
                               (role,)).fetchone()
        assert row is not None and row["ok"] is False


def test_every_foreign_key_has_an_index(db: Db) -> None:
    rows = db.admin.execute("""
        select c.conrelid::regclass::text as tbl, c.conname,
               (select array_agg(a.attname order by k.ord) from unnest(c.conkey) with ordinality k(attnum, ord)
                  join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum) as cols
          from pg_constraint c join pg_namespace n on n.oid = c.connamespace
         where c.contype = 'f' and n.nspname = 'public'
           and not exists (
             select 1 from pg_index i
              where i.indrelid = c.conrelid and i.indkey[0] = c.conkey[1])
    """).fetchall()
    assert rows == [], rows


def test_user_cannot_choose_or_read_another_webhook_secret(db: Db, worlds: tuple[World, World]) -> None:
    alice, bob = worlds
    with db.as_user(bob.user) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("update tv_strategies set webhook_secret = 'guessable' where id = %s",
                     (bob.ids["tv_strategies"],))
    with db.as_user(bob.user) as conn:
        row = conn.execute("select count(*) as n from tv_strategies where webhook_secret = "
                           "(select webhook_secret from tv_strategies limit 1)").fetchone()
    assert row is not None and row["n"] == 1
    with pytest.raises(psycopg.Error):
        db.call_as(bob.user, "select rotate_strategy_secret(%s)", (alice.ids["tv_strategies"],))
