"""Apply sql/ to a database the way the Supabase CLI does.

Migrations in ``sql/migrations`` run in file-name order, each in its own transaction, and are
recorded in ``supabase_migrations.schema_migrations`` — the table ``supabase db push`` keeps — so
a local database and a Supabase project agree on what is applied. ``supabase_compat.sql`` is for
plain PostgreSQL only and is (re)applied before them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tnm_desktop.paths import sql_dir

log = logging.getLogger(__name__)

_TRACKING = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text primary key,
  statements text[],
  name text
);
"""


@dataclass(frozen=True)
class Migration:
    """One file of sql/migrations."""

    version: str
    name: str
    path: Path

    def sql(self) -> str:
        """Return the file's SQL."""
        return self.path.read_text(encoding="utf-8")


def migrations(directory: Path | None = None) -> list[Migration]:
    """List the migrations in file-name order."""
    folder = directory or sql_dir() / "migrations"
    found = []
    for path in sorted(folder.glob("*.sql")):
        version, _, name = path.stem.partition("_")
        found.append(Migration(version, name, path))
    return found


def apply_compat(conn: psycopg.Connection[Any]) -> None:
    """Give a plain PostgreSQL what Supabase provides (roles, auth, extensions, publication)."""
    with conn.transaction():
        conn.execute((sql_dir() / "supabase_compat.sql").read_text(encoding="utf-8"))


def applied(conn: psycopg.Connection[Any]) -> list[str]:
    """Return the versions recorded as applied."""
    with conn.transaction():
        conn.execute(_TRACKING)
        rows = conn.execute(
            "select version from supabase_migrations.schema_migrations order by version").fetchall()
    return [str(row[0]) for row in rows]


def apply(conn: psycopg.Connection[Any], migration: Migration) -> None:
    """Run one migration and record it, in one transaction."""
    with conn.transaction():
        conn.execute(migration.sql())
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, name, statements) "
            "values (%s, %s, array[]::text[]) on conflict (version) do update set name = excluded.name",
            (migration.version, migration.name),
        )


def apply_pending(conn: psycopg.Connection[Any]) -> list[Migration]:
    """Apply every migration not yet recorded; return those applied."""
    done = set(applied(conn))
    ran = []
    for migration in migrations():
        if migration.version in done:
            continue
        log.info("applying migration %s_%s", migration.version, migration.name)
        apply(conn, migration)
        ran.append(migration)
    return ran
