"""PostgREST's URL grammar, the part the app uses, turned into SQL.

Select lists (``*``, ``col``, ``alias:col``, ``col::cast``), horizontal filters with ``eq neq gt
gte lt lte like ilike match imatch in is cs cd ov`` and ``not.``, logic trees (``or=(…)``,
``and=(…)``, nested, negated), ``order`` and ``limit``/``offset``. Values always travel as query
parameters of unknown type, so PostgreSQL infers their type from the column, as PostgREST does.
Anything outside this subset is refused loudly rather than approximated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from psycopg import sql


class RequestError(Exception):
    """An error PostgREST answers with ``{code, details, hint, message}``."""

    def __init__(self, status: int, code: str, message: str, *, details: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "details": details, "hint": hint, "message": message}


def parse_error(what: str, details: str) -> RequestError:
    """PGRST100: the query string does not parse."""
    return RequestError(400, "PGRST100", f'"failed to parse {what}"', details=details)


_SIMPLE = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "like": "like",
           "ilike": "ilike", "match": "~", "imatch": "~*", "cs": "@>", "cd": "<@", "ov": "&&"}
_IS = {"null": "null", "true": "true", "false": "false", "unknown": "unknown"}
_CAST = re.compile(r"^[a-z_][a-z0-9_ ]*(\[\])?$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Condition:
    """``column=[not.]op.value``."""

    column: str
    op: str
    value: str | tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class Group:
    """``or=(…)`` / ``and=(…)``, possibly negated and nested."""

    kind: str
    items: tuple[Condition | Group, ...]
    negated: bool = False


@dataclass(frozen=True)
class SelectItem:
    """One entry of ``select``."""

    column: str  # "*" for every column
    alias: str | None = None
    cast: str | None = None


@dataclass(frozen=True)
class OrderItem:
    """One entry of ``order``."""

    column: str
    descending: bool
    nulls: str | None  # "first" | "last" | None


def split_top(text: str) -> list[str]:
    """Split on commas outside parentheses and double quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted or depth != 0:
        raise parse_error(f"list ({text})", "unbalanced quotes or parentheses")
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_condition(column: str, expression: str) -> Condition:
    """Parse the value part of a filter: ``[not.]op.value``."""
    negated = expression.startswith("not.")
    rest = expression[4:] if negated else expression
    op, dot, value = rest.partition(".")
    if not dot or (op not in _SIMPLE and op not in ("in", "is")):
        raise parse_error(f"filter ({expression})", f'unexpected "{op}" expecting an operator')
    if op == "in":
        if not (value.startswith("(") and value.endswith(")")):
            raise parse_error(f"filter ({expression})", 'expecting "("')
        inner = value[1:-1]
        items = tuple(_unquote(v.strip()) for v in split_top(inner)) if inner else ()
        return Condition(column, op, items, negated)
    if op == "is" and value.lower() not in _IS:
        raise parse_error(f"filter ({expression})", "expecting null, true, false or unknown")
    return Condition(column, op, _unquote(value), negated)


def parse_logic(kind: str, text: str, negated: bool = False) -> Group:
    """Parse ``(item,item,…)`` of an ``or``/``and`` parameter."""
    if not (text.startswith("(") and text.endswith(")")):
        raise parse_error(f"logic tree ({text})", 'expecting "("')
    items: list[Condition | Group] = []
    for raw in split_top(text[1:-1]):
        item = raw.strip()
        inner_negated = item.startswith("not.")
        body = item[4:] if inner_negated else item
        nested = re.match(r"^(and|or)(\(.*\))$", body)
        if nested:
            items.append(parse_logic(nested.group(1), nested.group(2), inner_negated))
            continue
        column, dot, expression = item.partition(".")
        if not dot:
            raise parse_error(f"logic tree ({text})", f"expecting a filter, got {item!r}")
        items.append(parse_condition(column, expression))
    return Group(kind, tuple(items), negated)


def parse_select(text: str) -> list[SelectItem]:
    """Parse ``select``."""
    items = []
    for raw in split_top(text or "*"):
        item = raw.strip()
        if "(" in item:
            raise RequestError(400, "PGRST200", "Could not find a relationship in the schema cache",
                               details="Resource embedding is not part of this fake PostgREST.")
        named, colon, rest = item.partition(":")
        alias: str | None = named
        if not colon or rest.startswith(":"):
            alias, rest = None, item
        column, _, cast = rest.partition("::")
        if cast and not _CAST.match(cast):
            raise parse_error(f"select ({text})", f"unexpected cast {cast!r}")
        items.append(SelectItem(column, alias or None, cast or None))
    return items


def parse_order(text: str) -> list[OrderItem]:
    """Parse ``order``."""
    items = []
    for raw in split_top(text):
        parts = raw.strip().split(".")
        column, modifiers = parts[0], parts[1:]
        descending, nulls = False, None
        for modifier in modifiers:
            if modifier in ("asc", "desc"):
                descending = modifier == "desc"
            elif modifier in ("nullsfirst", "nullslast"):
                nulls = modifier[5:]
            else:
                raise parse_error(f"order ({text})", f'unexpected "{modifier}"')
        items.append(OrderItem(column, descending, nulls))
    return items


def parse_count(name: str, value: str) -> int:
    """Parse ``limit``/``offset``."""
    if not value.isdigit():
        raise parse_error(name, f"expecting a non-negative integer, got {value!r}")
    return int(value)


# SQL ---------------------------------------------------------------------------------------------

def column_sql(table: str, columns: dict[str, str], column: str, alias: str) -> sql.Composable:
    """``alias."column"`` after checking the column exists (42703 like PostgreSQL otherwise)."""
    if column not in columns or not _IDENT.match(column):
        raise RequestError(400, "42703", f"column {table}.{column} does not exist")
    return sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(column))


def condition_sql(table: str, columns: dict[str, str], item: Condition | Group,
                  alias: str, params: list[Any]) -> sql.Composable:
    """One filter or logic tree as SQL; values are appended to ``params``."""
    if isinstance(item, Group):
        joiner = sql.SQL(" or " if item.kind == "or" else " and ")
        inner = joiner.join(condition_sql(table, columns, i, alias, params) for i in item.items)
        composed: sql.Composable = sql.SQL("({})").format(inner)
    else:
        target = column_sql(table, columns, item.column, alias)
        if item.op == "in":
            params.append("{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                                         for v in item.value) + "}")
            composed = sql.SQL("{} = any(%s)").format(target)
        elif item.op == "is":
            assert isinstance(item.value, str)
            composed = sql.SQL("{} is " + _IS[item.value.lower()]).format(target)
        else:
            assert isinstance(item.value, str)
            value = item.value.replace("*", "%") if item.op in ("like", "ilike") else item.value
            params.append(value)
            composed = sql.SQL("{} " + _SIMPLE[item.op] + " %s").format(target)
    return sql.SQL("not {}").format(composed) if item.negated else composed


def where_sql(table: str, columns: dict[str, str], filters: list[Condition | Group],
              alias: str, params: list[Any]) -> sql.Composable:
    """The WHERE clause of all filters (empty without any)."""
    if not filters:
        return sql.SQL("")
    return sql.SQL(" where ") + sql.SQL(" and ").join(
        condition_sql(table, columns, f, alias, params) for f in filters)


def select_sql(table: str, columns: dict[str, str], items: list[SelectItem], alias: str) -> sql.Composable:
    """The select list."""
    parts: list[sql.Composable] = []
    for item in items:
        if item.column == "*":
            parts.append(sql.SQL("{}.*").format(sql.Identifier(alias)))
            continue
        target = column_sql(table, columns, item.column, alias)
        if item.cast:
            target = sql.SQL("cast({} as " + item.cast + ")").format(target)
        parts.append(sql.SQL("{} as {}").format(target, sql.Identifier(item.alias or item.column)))
    return sql.SQL(", ").join(parts)


def order_sql(table: str, columns: dict[str, str], items: list[OrderItem], alias: str) -> sql.Composable:
    """The ORDER BY clause (empty without any)."""
    if not items:
        return sql.SQL("")
    parts = [sql.SQL("{} {}{}").format(column_sql(table, columns, i.column, alias),
                                        sql.SQL("desc" if i.descending else "asc"),
                                        sql.SQL(f" nulls {i.nulls}" if i.nulls else ""))
             for i in items]
    return sql.SQL(" order by ") + sql.SQL(", ").join(parts)
