"""The schema rules Supabase's database linter checks (its ERROR and WARN lints), on the migrated schema.

Each test is one rule; the linter's lint number is in its name's comment. Together they keep a
Supabase project with our migrations free of the linter's errors and warnings, and keep later
migrations to the pattern for security-definer functions (sql/README.md): none in an exposed
schema; each privileged entry point in ``tnm_privileged`` behind a thin SECURITY INVOKER function of
the same name in ``public``; internal helpers in ``tnm_private``, which no API role may enter.
Also run on a database whose migrations were applied twice (test_migrations.py).
"""

from __future__ import annotations

import psycopg
import pytest

from tests.pg import Db

Row = dict[str, object]

EXPOSED = ("public", "graphql_public")  # the schemas PostgREST serves on Supabase by default
OURS = ("public", "tnm_private", "tnm_privileged")
API_ROLES = ("anon", "authenticated", "service_role", "tnm_ingest")
_NOT_FROM_AN_EXTENSION = "not exists (select 1 from pg_depend d where d.objid = {oid} and d.deptype = 'e')"


def rows(conn: psycopg.Connection[Row], query: str, *params: object) -> list[Row]:
    return conn.execute(query, params or None).fetchall()


def _config(value: object) -> list[str]:
    """A text[] column (proconfig, reloptions) as a list; NULL is empty."""
    return [str(v) for v in value] if isinstance(value, list) else []


def check_all(conn: psycopg.Connection[Row]) -> None:
    """Run every rule on one database (for the migrations-applied-twice test)."""
    for rule in RULES:
        rule(conn)


# Functions ---------------------------------------------------------------------------------------

def no_definer_function_in_an_exposed_schema(conn: psycopg.Connection[Row]) -> None:
    # 0028/0029 flag those anon or authenticated may execute; we allow none at all: a grant added
    # later must not be what turns one into an open privileged endpoint.
    found = rows(conn, "select p.oid::regprocedure::text as fn from pg_proc p "
                       "join pg_namespace n on n.oid = p.pronamespace "
                       "where p.prosecdef and n.nspname = any(%s)", list(EXPOSED))
    assert found == [], "SECURITY DEFINER functions in an exposed schema"


def privileged_functions_are_reached_through_invoker_wrappers(conn: psycopg.Connection[Row]) -> None:
    privileged = rows(conn, """
        select p.oid, p.proname, p.prosecdef, p.proconfig, pg_get_function_identity_arguments(p.oid) as args,
               pg_get_function_arguments(p.oid) as signature, pg_get_function_result(p.oid) as result
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where n.nspname = 'tnm_privileged'""")
    assert len(privileged) >= 13
    for fn in privileged:
        name = f"tnm_privileged.{fn['proname']}({fn['args']})"
        assert fn["prosecdef"], f"{name}: only SECURITY DEFINER entry points belong in tnm_privileged"
        assert 'search_path=""' in _config(fn["proconfig"]), f"{name}: search_path must be pinned to ''"
        wrapper = conn.execute("""
            select p.oid, p.prosecdef, p.proconfig, l.lanname, p.prosrc, pg_get_function_arguments(p.oid) as signature,
                   pg_get_function_result(p.oid) as result
              from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
             where n.nspname = 'public' and p.proname = %s and pg_get_function_identity_arguments(p.oid) = %s""",
                               (fn["proname"], fn["args"])).fetchone()
        assert wrapper is not None, f"{name} has no public function of the same name and arguments"
        assert not wrapper["prosecdef"] and wrapper["lanname"] == "sql", f"public {name}: a SECURITY INVOKER SQL wrapper"
        assert 'search_path=""' in _config(wrapper["proconfig"]), f"public {name}: search_path must be pinned"
        assert f"tnm_privileged.{fn['proname']}(" in str(wrapper["prosrc"]), f"public {name} must call its body"
        assert (wrapper["signature"], wrapper["result"]) == (fn["signature"], fn["result"]), \
            f"public {name}: argument names, defaults and result must match its body's"
        for role in API_ROLES:
            may = [conn.execute("select has_function_privilege(%s, %s, 'execute') as ok", (role, oid)).fetchone()
                   for oid in (fn["oid"], wrapper["oid"])]
            assert may[0] == may[1], f"{name}: {role} must be allowed the wrapper exactly when the body"
        for oid in (fn["oid"], wrapper["oid"]):
            assert not _public_may_execute(conn, oid), f"{name}: EXECUTE must be revoked from PUBLIC"


def _public_may_execute(conn: psycopg.Connection[Row], oid: object) -> bool:
    row = conn.execute("select exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a "
                       "where a.grantee = 0 and a.privilege_type = 'EXECUTE') as ok from pg_proc p where p.oid = %s",
                       (oid,)).fetchone()
    return bool(row and row["ok"])


def the_private_schema_is_closed_to_api_roles(conn: psycopg.Connection[Row]) -> None:
    for role in API_ROLES:
        row = conn.execute("select has_schema_privilege(%s, 'tnm_private', 'usage') as ok", (role,)).fetchone()
        assert row == {"ok": False}, f"{role} must not enter tnm_private"
    callable_by_public = [r["fn"] for r in rows(
        conn, "select p.oid::regprocedure::text as fn, p.oid from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
              "where n.nspname in ('tnm_private', 'tnm_privileged')") if _public_may_execute(conn, r["oid"])]
    assert callable_by_public == [], "EXECUTE must be revoked from PUBLIC"


def every_function_pins_its_search_path(conn: psycopg.Connection[Row]) -> None:
    # 0011 (WARN), on every schema of ours: a function that resolves names through the caller's
    # search_path can be pointed at the caller's own objects.
    found = rows(conn, "select p.oid::regprocedure::text as fn from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
                       "where n.nspname = any(%s) and " + _NOT_FROM_AN_EXTENSION.format(oid="p.oid") +
                       " and not exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%%')",
                 list(OURS))
    assert found == [], "functions without a fixed search_path"


# Tables, views and policies ---------------------------------------------------------------------

def every_exposed_table_has_rls(conn: psycopg.Connection[Row]) -> None:
    # 0013 (ERROR) and 0007 (ERROR: policies on a table whose RLS is off).
    found = rows(conn, "select c.oid::regclass::text as t from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                       "where c.relkind in ('r', 'p') and not c.relrowsecurity "
                       "and (n.nspname = any(%s) or exists (select 1 from pg_policy p where p.polrelid = c.oid))",
                 list(EXPOSED))
    assert found == []


def views_run_as_the_caller_and_show_no_auth_users(conn: psycopg.Connection[Row]) -> None:
    # 0010 (ERROR) and 0002 (ERROR); 0016/0017 (WARN): no materialized view or foreign table.
    views = rows(conn, "select c.oid, c.relname, c.relkind, c.reloptions from pg_class c "
                       "join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('v', 'm', 'f') "
                       "and n.nspname = any(%s)", list(EXPOSED))
    assert views
    for view in views:
        assert view["relkind"] == "v", f"{view['relname']}: only plain views in an exposed schema"
        assert "security_invoker=true" in _config(view["reloptions"]), f"{view['relname']} must be security_invoker"
        uses_auth_users = conn.execute(
            "select exists (select 1 from pg_rewrite r join pg_depend d on d.objid = r.oid "
            "where r.ev_class = %s and d.refobjid = 'auth.users'::regclass) as uses", (view["oid"],)).fetchone()
        assert uses_auth_users == {"uses": False}, f"{view['relname']} exposes auth.users"


def policies_call_auth_functions_once_per_statement(conn: psycopg.Connection[Row]) -> None:
    # 0003 (WARN): auth.uid() & co. wrapped in a sub-select are evaluated once, not once per row.
    policies = rows(conn, "select tablename, policyname, lower(coalesce(qual, '') || ' ' || coalesce(with_check, '')) as e "
                          "from pg_policies where schemaname = any(%s)", list(OURS))
    assert len(policies) > 20
    for policy in policies:
        expr = str(policy["e"])
        for call in ("auth.uid()", "auth.jwt()", "auth.role()", "auth.email()", "current_setting("):
            assert expr.count(call) == expr.count("select " + call), f"{policy['policyname']}: {call} per row"
        assert "user_metadata" not in expr, f"{policy['policyname']}: 0015, user metadata is user-editable"


def no_policy_lets_everyone_write(conn: psycopg.Connection[Row]) -> None:
    # 0024 (WARN): a permissive write policy that is always true for anon or authenticated.
    found = rows(conn, """
        select p.tablename, p.policyname from pg_policies p
         where p.schemaname = any(%s) and p.permissive = 'PERMISSIVE'
           and (p.roles && array['public', 'anon', 'authenticated']::name[])
           and ((p.cmd in ('UPDATE', 'DELETE', 'ALL')
                 and (p.qual is null or replace(lower(p.qual), ' ', '') in ('true', '(true)', '1=1', '(1=1)')))
             or (p.cmd in ('INSERT', 'UPDATE', 'ALL')
                 and replace(lower(coalesce(p.with_check, case when p.cmd = 'INSERT' then 'true' end, '')), ' ', '')
                     in ('true', '(true)', '1=1', '(1=1)')))""", list(OURS))
    assert found == []


def one_permissive_policy_per_role_and_action(conn: psycopg.Connection[Row]) -> None:
    # 0006 (WARN): several permissive policies for one role and action are all evaluated per row.
    found = rows(conn, """
        select c.oid::regclass::text as t, r.rolname, a.cmd, count(*) as n
          from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace ns on ns.oid = c.relnamespace
          join pg_roles r on p.polroles @> array[r.oid] or p.polroles = array[0::oid]
          cross join lateral unnest(case p.polcmd when 'r' then array['SELECT'] when 'a' then array['INSERT']
                                                  when 'w' then array['UPDATE'] when 'd' then array['DELETE']
                                                  else array['SELECT', 'INSERT', 'UPDATE', 'DELETE'] end) a(cmd)
         where p.polpermissive and ns.nspname = any(%s) and not r.rolbypassrls and r.rolname not like 'pg\\_%%'
         group by 1, 2, 3 having count(*) > 1""", list(OURS))
    assert found == []


# Indexes, keys, types, extensions -----------------------------------------------------------------

def no_duplicate_indexes(conn: psycopg.Connection[Row]) -> None:
    # 0009 (WARN): two indexes with the same definition double every write for nothing.
    found = rows(conn, "select tablename, array_agg(indexname::text order by indexname) as same from pg_indexes "
                       "where schemaname = any(%s) group by schemaname, tablename, replace(indexdef, indexname, '') "
                       "having count(*) > 1", list(OURS))
    assert found == []


def foreign_keys_to_auth_use_its_primary_key(conn: psycopg.Connection[Row]) -> None:
    # 0021 (ERROR): auth's unique constraints other than primary keys may change under us.
    found = rows(conn, "select c.conname from pg_constraint c join pg_index i on i.indexrelid = c.conindid "
                       "where c.contype = 'f' and c.confrelid::regclass::text like 'auth.%%' and not i.indisprimary")
    assert found == []


def no_unsupported_reg_types_and_no_extension_in_public(conn: psycopg.Connection[Row]) -> None:
    # 0018 (WARN): these reg* types keep OIDs that pg_upgrade cannot carry over. 0014 (WARN).
    columns = rows(conn, "select a.attrelid::regclass::text as t, a.attname from pg_attribute a "
                         "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
                         "where n.nspname = any(%s) and not a.attisdropped and a.atttypid = any(array["
                         "'regcollation', 'regconfig', 'regdictionary', 'regnamespace', 'regoper', 'regoperator', "
                         "'regproc', 'regprocedure']::regtype[])", list(OURS))
    assert columns == []
    in_public = rows(conn, "select e.extname from pg_extension e where e.extnamespace = 'public'::regnamespace")
    assert in_public == []


RULES = [
    no_definer_function_in_an_exposed_schema, privileged_functions_are_reached_through_invoker_wrappers,
    the_private_schema_is_closed_to_api_roles, every_function_pins_its_search_path, every_exposed_table_has_rls,
    views_run_as_the_caller_and_show_no_auth_users, policies_call_auth_functions_once_per_statement,
    no_policy_lets_everyone_write, one_permissive_policy_per_role_and_action, no_duplicate_indexes,
    foreign_keys_to_auth_use_its_primary_key, no_unsupported_reg_types_and_no_extension_in_public,
]


@pytest.mark.parametrize("rule", RULES, ids=[r.__name__ for r in RULES])
def test_the_migrated_schema_keeps_the_rule(db: Db, rule: object) -> None:
    assert callable(rule)
    rule(db.admin)


# What each rule is for, done wrong: the rule must catch it.
_BROKEN = {
    no_definer_function_in_an_exposed_schema:
        "create function public.lint_bad() returns int language sql security definer set search_path = '' "
        "as 'select 1'; revoke all on function public.lint_bad() from public, anon, authenticated",
    privileged_functions_are_reached_through_invoker_wrappers:
        "create function tnm_privileged.lint_bad() returns int language sql security definer set search_path = '' "
        "as 'select 1'; revoke all on function tnm_privileged.lint_bad() from public",
    the_private_schema_is_closed_to_api_roles:
        "create function tnm_private.lint_bad() returns int language sql set search_path = '' as 'select 1'",
    every_function_pins_its_search_path: "create function public.lint_bad() returns int language sql as 'select 1'",
    every_exposed_table_has_rls: "create table public.lint_bad (id int)",
    views_run_as_the_caller_and_show_no_auth_users:
        "create view public.lint_bad with (security_invoker = true) as select id from auth.users",
    policies_call_auth_functions_once_per_statement:
        "create policy lint_bad on public.tv_signals as restrictive for select to authenticated "
        "using (auth.uid() = user_id)",
    no_policy_lets_everyone_write:
        "create policy lint_bad on public.tv_signals for update to authenticated using (true)",
    one_permissive_policy_per_role_and_action:
        "create policy lint_bad on public.tv_signals for select to authenticated using ((select auth.uid()) = user_id)",
    no_duplicate_indexes: "create index lint_bad on public.jobs (user_id, created_at desc)",
    foreign_keys_to_auth_use_its_primary_key:
        "create table public.lint_bad (email varchar(255) references auth.users (email)); "
        "alter table public.lint_bad enable row level security",
    no_unsupported_reg_types_and_no_extension_in_public:
        "create table public.lint_bad (f regproc); alter table public.lint_bad enable row level security",
}


@pytest.mark.parametrize("rule", RULES, ids=[r.__name__ for r in RULES])
def test_the_rule_catches_what_it_is_for(db: Db, rule: object) -> None:
    assert callable(rule)
    with db.admin.transaction(force_rollback=True):
        db.admin.execute(_BROKEN[rule].encode())
        with pytest.raises(AssertionError):
            rule(db.admin)
