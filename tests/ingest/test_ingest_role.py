"""Role tnm_ingest may call public.ingest_tv_signal (and its variant that claims for the app's idle
agent, ingest_tv_signal_and_claim) and nothing else; nobody else may call them.

The functions' privileged bodies are in tnm_privileged (see the migration
20251201000000_definer_functions_out_of_public): the role may execute those too, and only them.
"""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.rows import dict_row

from tests.ingest.conftest import Desk
from tests.pg import Db

INGEST = "public.ingest_tv_signal(text,text,timestamp with time zone,text)"
INGEST_AND_CLAIM = "public.ingest_tv_signal_and_claim(text,text,timestamp with time zone,text,uuid,text,integer)"


def _relations(db: Db, kinds: str) -> list[str]:
    rows = db.admin.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind = any(%s) order by 1", (list(kinds),)).fetchall()
    return [str(r["relname"]) for r in rows]


def test_the_role_logs_in_inherits_nothing_and_belongs_to_no_role(db: Db) -> None:
    role = db.admin.execute(
        "select rolcanlogin, rolinherit, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, "
        "rolpassword is null as no_password from pg_authid where rolname = 'tnm_ingest'").fetchone()
    assert role == {"rolcanlogin": True, "rolinherit": False, "rolsuper": False, "rolcreaterole": False,
                    "rolcreatedb": False, "rolbypassrls": False, "rolreplication": False, "no_password": True}
    member_of = db.admin.execute(
        "select count(*) as n from pg_auth_members m join pg_roles r on r.oid = m.member "
        "where r.rolname = 'tnm_ingest'").fetchone()
    assert member_of == {"n": 0}


def test_it_can_call_the_ingestion_function(desk: Desk) -> None:
    assert desk.ingest('{"action": "buy", "symbol": "EURUSD"}')["code"] == "accepted"


@pytest.mark.parametrize("statement", [
    "select * from public.{rel} limit 1",
    "insert into public.{rel} default values",
    "update public.{rel} set {col} = {col}",
    "delete from public.{rel}",
])
def test_it_can_touch_no_table_or_view(desk: Desk, statement: str) -> None:
    kinds = "rv" if statement.startswith("select") else "r"  # views here are not updatable anyway
    relations = _relations(desk.db, kinds)
    assert {"tv_signals", "jobs", "tv_strategies", "broker_symbols"} <= set(relations)
    with psycopg.connect(desk.ingest_url, autocommit=True) as conn:
        for relation in relations:
            column = desk.db.admin.execute(
                "select attname from pg_attribute where attrelid = %s::regclass and attnum = 1",
                (f"public.{relation}",)).fetchone()
            assert column is not None
            query = sql.SQL(statement).format(rel=sql.Identifier(relation),
                                              col=sql.Identifier(str(column["attname"])))
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(query)


def test_it_may_execute_no_other_function_and_reach_no_private_schema(db: Db) -> None:
    callable_ = db.admin.execute(
        "select p.oid::regprocedure::text as fn from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname in ('public', 'tnm_private', 'tnm_privileged', 'auth', 'extensions') "
        "and has_function_privilege('tnm_ingest', p.oid, 'execute') "
        "and has_schema_privilege('tnm_ingest', n.oid, 'usage') order by 1").fetchall()
    # The public entry points and the privileged bodies they call (20251201000000's pattern): the
    # ingestion, and the ingestion that claims for the app's idle agent with its key
    # (20251221000000), nothing else.
    with_claim = "ingest_tv_signal_and_claim(text,text,timestamp with time zone,text,uuid,text,integer)"
    assert [r["fn"] for r in callable_] == ["ingest_tv_signal(text,text,timestamp with time zone,text)", with_claim,
                                            "tnm_privileged.ingest_tv_signal(text,text,timestamp with time zone,text)",
                                            "tnm_privileged." + with_claim]
    schemas = db.admin.execute(
        "select nspname from pg_namespace where has_schema_privilege('tnm_ingest', oid, 'usage') "
        "and nspname not in ('pg_catalog', 'information_schema') order by 1").fetchall()
    assert [r["nspname"] for r in schemas] == ["public", "tnm_privileged"]
    assert db.admin.execute("select has_schema_privilege('tnm_ingest', 'public', 'create') as c").fetchone() == {
        "c": False}


def test_calls_it_is_not_allowed_are_refused(desk: Desk) -> None:
    with psycopg.connect(desk.ingest_url, autocommit=True) as conn:
        for call in ["select * from public.claim_next_job(%s, %s)",
                     "select * from tnm_privileged.claim_next_job(%s, %s)",
                     "select public.record_broker_symbols(%s, %s, %s, '[]')",
                     "select * from public.signal_page()",
                     "select public.rotate_strategy_secret(%s)"]:
            params = (desk.agent.id, desk.agent.key, desk.broker_id)[:call.count("%s")]
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(call, params)
        for role in ("authenticated", "service_role", "postgres"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))


@pytest.mark.parametrize(("role", "allowed"), [
    ("anon", False), ("authenticated", False), ("service_role", True), ("tnm_ingest", True)])
def test_who_may_execute_the_ingestion_function(db: Db, role: str, allowed: bool) -> None:
    for function in (INGEST, "tnm_privileged." + INGEST.removeprefix("public."), INGEST_AND_CLAIM,
                     "tnm_privileged." + INGEST_AND_CLAIM.removeprefix("public.")):
        row = db.admin.execute("select has_function_privilege(%s, %s, 'execute') as ok", (role, function)).fetchone()
        assert row == {"ok": allowed}, function


def test_a_signed_in_user_cannot_forge_a_signal_through_it(desk: Desk) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        desk.db.call_as(desk.user, "select * from public.ingest_tv_signal(%s, %s)",
                        (desk.secret, '{"action": "buy", "symbol": "EURUSD"}'))
    assert desk.count("tv_signals") == 0


def test_a_signed_in_user_cannot_claim_at_ingestion_either(desk: Desk) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        desk.db.call_as(desk.user, "select * from public.ingest_tv_signal_and_claim(%s, %s, now(), null, %s, %s)",
                        (desk.secret, '{"action": "buy", "symbol": "EURUSD"}', desk.agent.id, desk.agent.key))
    assert desk.count("tv_signals") == 0


def test_the_statement_timeout_is_set_on_the_role_too(desk: Desk) -> None:
    with psycopg.connect(desk.ingest_url, autocommit=True, row_factory=dict_row) as conn:
        assert conn.execute("show statement_timeout").fetchone() == {"statement_timeout": "2s"}


def test_record_broker_symbols_replaces_the_catalog_for_the_serving_agent(desk: Desk) -> None:
    def record(symbols: list[object]) -> int:
        rows = desk.db.call_as(desk.user, "select record_broker_symbols(%s, %s, %s, %s) as n",
                               (desk.agent.id, desk.agent.key, desk.broker_id, json.dumps(symbols)))
        return int(rows[0]["n"])

    assert record(["EURUSD.m", {"symbol": "GOLD", "digits": 2, "volume_min": 0.01}, "EURUSD.m"]) == 2
    assert record([{"symbol": "GBPUSD.m", "digits": 5}, "GOLD"]) == 2
    rows = desk.db.admin.execute("select symbol, digits from broker_symbols order by symbol").fetchall()
    assert [(r["symbol"], r["digits"]) for r in rows] == [("GBPUSD.m", 5), ("GOLD", None)]
    with desk.db.as_user(desk.user) as conn:
        assert conn.execute("select count(*) as n from broker_symbols").fetchone() == {"n": 2}
    for bad in ("{}", '[{"digits": 5}]', '[""]'):
        with pytest.raises(psycopg.Error, match=r"symbol catalog|Each symbol"):
            desk.db.call_as(desk.user, "select record_broker_symbols(%s, %s, %s, %s)",
                            (desk.agent.id, desk.agent.key, desk.broker_id, bad))


def test_record_broker_symbols_refuses_a_connection_served_by_another_agent_or_user(desk: Desk) -> None:
    second = desk.db.create_agent(desk.user, "laptop")
    with pytest.raises(psycopg.Error, match="does not serve"):
        desk.db.call_as(desk.user, "select record_broker_symbols(%s, %s, %s, '[\"X\"]')",
                        (second.id, second.key, desk.broker_id))
    stranger = desk.db.create_user()
    theirs = desk.db.create_agent(stranger)
    with pytest.raises(psycopg.Error, match="does not serve"):
        desk.db.call_as(stranger, "select record_broker_symbols(%s, %s, %s, '[\"X\"]')",
                        (theirs.id, theirs.key, desk.broker_id))
    with pytest.raises(psycopg.Error, match="pairing key"):
        desk.db.call_as(desk.user, "select record_broker_symbols(%s, %s, %s, '[\"X\"]')",
                        (desk.agent.id, "pk_wrong", desk.broker_id))
    assert desk.count("broker_symbols") == 0
