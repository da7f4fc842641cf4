"""A fake PostgREST over the real test database.

Each request runs in one transaction on a connection of the ``authenticator`` role that switches
to the JWT's role and sets ``request.jwt.claims``, exactly as PostgREST does, so the schema's own
grants and RLS decide every answer. Reads run read-only. Answers carry PostgREST's status codes,
JSON shapes, ``Content-Range`` and error bodies; the status of a database error follows
PostgREST's table (42501 → 403 signed in / 401 anonymous, 23505 → 409, P0001 → 400, …).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from psycopg import sql

from tests.fakes.pgrst_syntax import (
    Condition,
    Group,
    RequestError,
    order_sql,
    parse_condition,
    parse_count,
    parse_logic,
    parse_order,
    parse_select,
    select_sql,
    where_sql,
)
from tests.fakes.tokens import Signer, TokenRejected

SINGULAR = "application/vnd.pgrst.object+json"
_RESERVED = {"select", "order", "limit", "offset", "columns", "on_conflict", "or", "and", "not.or", "not.and"}
_ROLES = {"anon", "authenticated", "service_role"}
_TIMEOUTS = {"anon": "3s", "authenticated": "8s", "service_role": "0"}


def http_status(sqlstate: str, authenticated: bool) -> int:
    """PostgREST's mapping of a SQLSTATE to an HTTP status."""
    exact = {"23503": 409, "23505": 409, "25006": 405, "53400": 500, "P0001": 400, "42883": 404, "42P01": 404,
             "42P17": 500}
    if sqlstate in exact:
        return exact[sqlstate]
    if sqlstate == "42501":
        return 403 if authenticated else 401
    prefixes = {"08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500, "38": 500,
                "39": 500, "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500, "57": 500, "58": 500,
                "F0": 500, "HV": 500, "P0": 500, "XX": 500}
    return prefixes.get(sqlstate[:2], 400)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    """An answer with a JSON body (``body`` may already be JSON text)."""
    content = body if isinstance(body, str) else json.dumps(body)
    return httpx.Response(status, headers={"content-type": "application/json; charset=utf-8", **(headers or {})},
                          content=content.encode())


@dataclass(frozen=True)
class Function:
    """A function of the schema cache."""

    name: str
    args: tuple[tuple[str, str], ...]  # (name, type) of the input arguments
    required: int  # how many leading arguments have no default
    returns_set: bool
    result_columns: tuple[str, ...]  # of a composite or RETURNS TABLE result; empty for a scalar
    read_only: bool


class FakePostgrest:
    """PostgREST for the ``public`` schema of one database.

    Args:
        conninfo: libpq URL of the ``authenticator`` role.
        signer: Verifies the bearer tokens.
    """

    def __init__(self, conninfo: str, signer: Signer) -> None:
        self._conninfo = conninfo
        self._signer = signer
        self._tables: dict[str, dict[str, str]] | None = None
        self._functions: dict[str, list[Function]] = {}

    async def handle(self, request: httpx.Request, path: str) -> httpx.Response:
        """Answer one request to ``/rest/v1<path>``."""
        try:
            claims = self._claims(request)
            await self._load_schema()
            if path in ("", "/"):
                return json_response(200, {"swagger": "2.0", "info": {"title": "fake PostgREST"}})
            if path.startswith("/rpc/"):
                return await self._rpc(request, path[5:], claims)
            return await self._table(request, path.lstrip("/"), claims)
        except RequestError as exc:
            headers = {}
            if exc.status == 401 and exc.body["code"] == "PGRST301":
                headers["www-authenticate"] = f'Bearer error="invalid_token", error_description="{exc}"'
            return json_response(exc.status, exc.body, headers)

    # Auth and the schema cache ------------------------------------------------------------------

    def _claims(self, request: httpx.Request) -> dict[str, Any]:
        header = request.headers.get("authorization")
        if header is None:
            return {"role": "anon"}
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise RequestError(401, "PGRST301", "Expected a Bearer token")
        try:
            claims = self._signer.verify(token)
        except TokenRejected as exc:
            raise RequestError(401, "PGRST301", str(exc)) from exc
        if claims.get("role") not in _ROLES:
            raise RequestError(401, "PGRST301", f"role \"{claims.get('role')}\" does not exist")
        return claims

    async def _load_schema(self) -> None:
        if self._tables is not None:
            return
        async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
            tables: dict[str, dict[str, str]] = {}
            for table, column, kind in await (await conn.execute(
                    "select c.relname, a.attname, format_type(a.atttypid, a.atttypmod) from pg_class c "
                    "join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid "
                    "where n.nspname = 'public' and c.relkind in ('r', 'v', 'm', 'p') and a.attnum > 0 "
                    "and not a.attisdropped order by c.relname, a.attnum")).fetchall():
                tables.setdefault(table, {})[column] = kind
            for name, names, modes, types, nargs, ndefaults, retset, typtype, rel, volatile in await (
                    await conn.execute(
                        "select p.proname, coalesce(p.proargnames, '{}'), coalesce(p.proargmodes::text[], '{}'), "
                        "array(select format_type(t, null) from unnest(p.proargtypes) t), p.pronargs, "
                        "p.pronargdefaults, p.proretset, rt.typtype, rc.relname, p.provolatile "
                        "from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
                        "join pg_type rt on rt.oid = p.prorettype left join pg_class rc on rc.oid = rt.typrelid "
                        "where n.nspname = 'public' and p.prokind = 'f'")).fetchall():
                modes = modes or ["i"] * len(names)
                inputs = [n for n, m in zip(names, modes, strict=False) if m in ("i", "b", "v")]
                outputs = [n for n, m in zip(names, modes, strict=False) if m in ("o", "b", "t")]
                result = tuple(tables.get(rel, {})) if typtype == "c" else tuple(outputs)
                self._functions.setdefault(name, []).append(Function(
                    name, tuple(zip(inputs[:nargs], types, strict=False)), nargs - ndefaults, retset,
                    result, volatile in ("s", "i")))
        self._tables = tables

    # Tables and views -------------------------------------------------------------------------

    async def _table(self, request: httpx.Request, table: str, claims: dict[str, Any]) -> httpx.Response:
        assert self._tables is not None
        columns = self._tables.get(table)
        if columns is None:
            raise RequestError(404, "PGRST205", f"Could not find the table 'public.{table}' in the schema cache")
        method = request.method
        query = _Query(request, table, columns)
        target = sql.SQL("public.{} as _t").format(sql.Identifier(table))
        params: list[Any] = []
        if method in ("GET", "HEAD"):
            where = where_sql(table, columns, query.filters, "_t", params)
            source = sql.SQL("select {} from {}{}{}{}").format(query.select, target, where, query.order, query.window)
            total = sql.SQL("select count(*) from {}{}").format(target, where) if query.count else None
            return await self._run(request, claims, source, params, status=200, read_only=True,
                                   total_sql=total, range_from=query.offset)
        if method == "POST":
            rows, keys = _body_rows(request, query.explicit_columns)
            typed = _typed(table, columns, keys)
            params.append(json.dumps(rows))
            names = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
            change = sql.SQL("insert into {} ({}) select {} from json_to_recordset(%s::json) as _b({})").format(
                target, names, names, typed)
            source = sql.SQL("select {} from _s as _t").format(query.select)
            return await self._run(request, claims, source, params, status=201, mutation=change)
        if method in ("PATCH", "DELETE"):
            if not query.filters:
                raise RequestError(400, "21000", f"{'UPDATE' if method == 'PATCH' else 'DELETE'} requires a WHERE clause")
            if method == "PATCH":
                body = _json_body(request)
                if not isinstance(body, dict) or not body:
                    raise RequestError(400, "PGRST102", "Empty or invalid json")
                keys = list(body)
                typed = _typed(table, columns, keys)
                params.append(json.dumps(body))
                sets = sql.SQL(", ").join(sql.SQL("{} = _b.{}").format(sql.Identifier(k), sql.Identifier(k))
                                          for k in keys)
                where = where_sql(table, columns, query.filters, "_t", params)
                change = sql.SQL("update {} set {} from json_to_record(%s::json) as _b({}){}").format(
                    target, sets, typed, where)
            else:
                where = where_sql(table, columns, query.filters, "_t", params)
                change = sql.SQL("delete from {}{}").format(target, where)
            source = sql.SQL("select {} from _s as _t").format(query.select)
            return await self._run(request, claims, source, params, status=200, mutation=change)
        raise RequestError(405, "PGRST117", f"Unsupported HTTP method: {method}")

    # Functions ----------------------------------------------------------------------------------

    async def _rpc(self, request: httpx.Request, name: str, claims: dict[str, Any]) -> httpx.Response:
        if request.method == "POST":
            raw = _json_body(request) if request.content else {}
            if not isinstance(raw, dict):
                raise RequestError(400, "PGRST102", "Empty or invalid json")
            given: dict[str, Any] = raw
        elif request.method in ("GET", "HEAD"):
            given = {k: v for k, v in request.url.params.multi_items() if k not in _RESERVED}
        else:
            raise RequestError(405, "PGRST101", "Only GET and POST verbs are allowed for functions")
        function = self._resolve(name, set(given))
        params: list[Any] = []
        call_args = sql.SQL(", ").join(sql.SQL("{} := _a.{}").format(sql.Identifier(k), sql.Identifier(k))
                                       for k in given)
        types = dict(function.args)
        arguments: sql.Composable
        if given:
            params.append(json.dumps(given))
            arguments = sql.SQL("json_to_record(%s::json) as _a({}), ").format(sql.SQL(", ").join(
                sql.SQL("{} " + types[k]).format(sql.Identifier(k)) for k in given))
        else:
            arguments = sql.SQL("")
        call = sql.SQL("public.{}({})").format(sql.Identifier(name), call_args)
        if function.result_columns:
            columns = dict.fromkeys(function.result_columns, "")
            query = _Query(request, name, columns, arguments=set(given) if request.method != "POST" else set())
            where = where_sql(name, columns, query.filters, "_t", params)
            source = sql.SQL("select {} from {}lateral {} as _t{}{}{}").format(
                query.select, arguments, call, where, query.order, query.window)
        else:
            source = sql.SQL("select _t.v as pgrst_scalar from {}lateral (select {} as v) as _t").format(arguments, call)
        read_only = request.method in ("GET", "HEAD") or function.read_only
        return await self._run(request, claims, source, params, status=200, read_only=read_only,
                               shape=("set" if function.returns_set else "object") if function.result_columns
                               else ("scalars" if function.returns_set else "scalar"))

    def _resolve(self, name: str, given: set[str]) -> Function:
        for function in self._functions.get(name, []):
            names = [n for n, _ in function.args]
            if given <= set(names) and set(names[:function.required]) <= given:
                return function
        raise RequestError(
            404, "PGRST202", f"Could not find the function public.{name}({', '.join(sorted(given))}) in the schema cache",
            details=f"Searched for the function public.{name} with parameters {', '.join(sorted(given))} or with a "
                    "single unnamed json/jsonb parameter, but no matches were found in the schema cache.")

    # Running ------------------------------------------------------------------------------------

    async def _run(self, request: httpx.Request, claims: dict[str, Any], source: sql.Composable, params: list[Any],
                   *, status: int, read_only: bool = False, mutation: sql.Composable | None = None,
                   total_sql: sql.Composed | None = None, range_from: int = 0,
                   shape: str = "set") -> httpx.Response:
        singular = SINGULAR in request.headers.get("accept", "")
        prefer = request.headers.get("prefer", "")
        aggregate = "_r.pgrst_scalar" if shape in ("scalar", "scalars") else "_r"
        # A data-modifying statement must be a top-level CTE; the answer is built from what it returns.
        changes = sql.SQL("with _s as ({} returning _t.*) ").format(mutation) if mutation else sql.SQL("")
        statement = sql.SQL("{changes}select coalesce(json_agg({agg}), '[]')::text, count(*), "
                            "(json_agg({agg})->0)::text from ({source}) as _r").format(
            changes=changes, agg=sql.SQL(aggregate), source=source)
        role = str(claims.get("role"))
        try:
            async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
                async with conn.transaction():
                    if read_only:
                        await conn.execute("set transaction read only")
                    await conn.execute(
                        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true), "
                        "set_config('request.method', %s, true), set_config('request.path', %s, true), "
                        "set_config('statement_timeout', %s, true)",
                        (role, json.dumps(claims), request.method, request.url.path, _TIMEOUTS[role]))
                    row = await (await conn.execute(statement, params)).fetchone()
                    assert row is not None
                    body, count, first = row
                    total = None
                    if total_sql is not None:
                        found = await (await conn.execute(total_sql, params)).fetchone()
                        total = found[0] if found else None
                    if singular and count != 1:
                        raise RequestError(406, "PGRST116", "JSON object requested, multiple (or no) rows returned",
                                           details=f"The result contains {count} rows")  # rolls back
        except psycopg.Error as exc:
            diag = exc.diag
            raise RequestError(http_status(exc.sqlstate or "XX000", role != "anon"), exc.sqlstate or "XX000",
                               diag.message_primary or str(exc), details=diag.message_detail,
                               hint=diag.message_hint) from exc
        headers = {"content-range": _content_range(range_from, count, total, mutation is not None)}
        if mutation and "return=representation" not in prefer:
            return httpx.Response(204 if status == 200 else status, headers=headers)
        if singular or shape == "object":
            return json_response(status, first or "null", headers)
        if shape == "scalar":
            return json_response(status, first or "null", headers)
        return json_response(status, body, headers)


class _Query:
    """The query-string part of a request: select, filters, order, window, count."""

    def __init__(self, request: httpx.Request, table: str, columns: dict[str, str], *,
                 arguments: frozenset[str] | set[str] = frozenset()) -> None:
        params = request.url.params
        self.select = select_sql(table, columns, parse_select(params.get("select", "*")), "_t")
        self.order = order_sql(table, columns, parse_order(params["order"]), "_t") if "order" in params else sql.SQL("")
        self.limit = parse_count("limit", params["limit"]) if "limit" in params else None
        self.offset = parse_count("offset", params["offset"]) if "offset" in params else 0
        window = ""
        if self.limit is not None:
            window += f" limit {self.limit}"
        if self.offset:
            window += f" offset {self.offset}"
        self.window = sql.SQL(window)
        self.count = "count=exact" in request.headers.get("prefer", "")
        self.explicit_columns = params.get("columns")
        self.filters: list[Condition | Group] = []
        for key, value in params.multi_items():
            if key in ("or", "and", "not.or", "not.and"):
                self.filters.append(parse_logic(key.removeprefix("not."), value, key.startswith("not.")))
            elif key not in _RESERVED and key != "apikey" and key not in arguments:
                self.filters.append(parse_condition(key, value))


def _json_body(request: httpx.Request) -> Any:
    if "application/json" not in request.headers.get("content-type", ""):
        raise RequestError(415, "PGRST107", "The request's Content-Type is not supported")
    try:
        return json.loads(request.content)
    except ValueError as exc:
        raise RequestError(400, "PGRST102", "Empty or invalid json") from exc


def _body_rows(request: httpx.Request, explicit: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    body = _json_body(request)
    rows = body if isinstance(body, list) else [body]
    if not rows or not all(isinstance(r, dict) for r in rows):
        raise RequestError(400, "PGRST102", "Empty or invalid json")
    keys = [k.strip().strip('"') for k in explicit.split(",")] if explicit else list(dict.fromkeys(
        k for r in rows for k in r))
    return rows, keys


def _typed(table: str, columns: dict[str, str], keys: list[str]) -> sql.Composable:
    for key in keys:
        if key not in columns:
            raise RequestError(400, "PGRST204", f"Could not find the '{key}' column of '{table}' in the schema cache")
    return sql.SQL(", ").join(sql.SQL("{} " + columns[k]).format(sql.Identifier(k)) for k in keys)


def _content_range(start: int, count: int, total: int | None, mutation: bool) -> str:
    size = "*" if total is None else str(total)
    if count == 0:
        return f"*/{size}"
    return f"{start}-{start + count - 1}/{size}" if not mutation else f"0-{count - 1}/*"
