"""Test helpers for the real PostgreSQL: one cluster per session, a fresh database per test.

A test acts as a user, as anon, as service_role or as the superuser through :class:`Db`, exactly
the way PostgREST switches roles: ``set local role`` plus the JWT claims for the transaction.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import bcrypt
import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from tnm_desktop.pgcluster import LocalCluster

TEMPLATE = "tnm_template"
_counter = itertools.count()


@dataclass(frozen=True)
class User:
    """A signed-up user of the test database."""

    id: str
    email: str
    password: str

    @property
    def claims(self) -> dict[str, str]:
        """The JWT claims PostgREST would set for this user."""
        return {"sub": self.id, "role": "authenticated", "email": self.email, "aud": "authenticated"}


@dataclass(frozen=True)
class Agent:
    """A paired MT5 agent: its id, owner and raw pairing key."""

    id: str
    user: User
    key: str


# bcrypt at cost 4 keeps the suites fast; the cost does not change what is tested.
TEST_BCRYPT_ROUNDS = 4


def hash_secret(secret: str, rounds: int = TEST_BCRYPT_ROUNDS) -> str:
    """bcrypt-hash a secret with the $2a$ prefix pgcrypto understands."""
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=rounds, prefix=b"2a")).decode()


def key_digest(key: str) -> str:
    """The hex SHA-256 of a pairing key, as the app stores it."""
    return hashlib.sha256(key.encode()).hexdigest()


class Db:
    """One test database and the ways to act on it."""

    def __init__(self, cluster: LocalCluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.url = cluster.conninfo(dbname=name)
        self._admin: psycopg.Connection[DictRow] | None = None

    @property
    def admin(self) -> psycopg.Connection[DictRow]:
        """An autocommit superuser connection (bypasses RLS, like Supabase's SQL editor)."""
        if self._admin is None:
            self._admin = psycopg.connect(self.url, autocommit=True, row_factory=dict_row)
        return self._admin

    def close(self) -> None:
        """Close the helper's own connections."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def connect(self, **kwargs: object) -> psycopg.Connection[DictRow]:
        """Open a new superuser connection (for concurrency tests)."""
        return psycopg.connect(self.url, row_factory=dict_row, **kwargs)  # type: ignore[arg-type]

    # People --------------------------------------------------------------------------------

    def create_user(self, email: str | None = None, password: str = "correct horse 1") -> User:  # noqa: S107
        """Sign up a user directly in auth.users (the trigger makes the profile)."""
        email = email or f"user{next(_counter)}@example.com"
        row = self.admin.execute(
            "insert into auth.users (email, encrypted_password, email_confirmed_at) "
            "values (%s, %s, now()) returning id::text as id",
            (email, hash_secret(password)),
        ).fetchone()
        assert row is not None
        return User(str(row["id"]), email, password)

    def create_agent(self, user: User, name: str = "desk pc") -> Agent:
        """Pair an agent for ``user`` the way the app does: key in hand, its hashes stored."""
        key = "pk_" + secrets.token_hex(32)
        row = self.admin.execute(
            "insert into public.mt5_agents (user_id, name, pairing_key_hash, pairing_key_sha256, "
            "pairing_key_prefix) values (%s, %s, %s, %s, %s) returning id::text as id",
            (user.id, name, hash_secret(key), key_digest(key), key[:11]),
        ).fetchone()
        assert row is not None
        return Agent(str(row["id"]), user, key)

    # Acting as someone ----------------------------------------------------------------------

    @contextmanager
    def as_role(self, role: str, claims: dict[str, str] | None = None,
                conn: psycopg.Connection[DictRow] | None = None,
                ) -> Iterator[psycopg.Connection[DictRow]]:
        """Run a transaction as ``role`` with ``claims``, as PostgREST does; roll back after."""
        own = conn is None
        connection = conn or self.connect()
        try:
            with connection.transaction(force_rollback=True):
                connection.execute(
                    "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                    (role, json.dumps(claims or {"role": role})),
                )
                yield connection
        finally:
            if own:
                connection.close()

    def as_user(self, user: User, conn: psycopg.Connection[DictRow] | None = None,
                ) -> AbstractContextManager[psycopg.Connection[DictRow]]:
        """Act as a signed-in user (role authenticated)."""
        return self.as_role("authenticated", user.claims, conn)

    def as_anon(self) -> AbstractContextManager[psycopg.Connection[DictRow]]:
        """Act as the anon key would."""
        return self.as_role("anon", {"role": "anon"})

    def as_service(self) -> AbstractContextManager[psycopg.Connection[DictRow]]:
        """Act as the service_role key would."""
        return self.as_role("service_role", {"role": "service_role"})

    def call_as(self, user: User, query: str, params: tuple[object, ...] = ()) -> list[DictRow]:
        """Run one statement as ``user`` and commit it; return its rows."""
        with self.connect() as conn, conn.transaction():
            conn.execute(
                "select set_config('role', 'authenticated', true), "
                "set_config('request.jwt.claims', %s, true)", (json.dumps(user.claims),))
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


def build_template(cluster: LocalCluster) -> None:
    """Create the template database with the compat layer and every migration."""
    from tnm_desktop.pgcluster import ensure_database, migrate

    ensure_database(cluster, TEMPLATE)
    with psycopg.connect(cluster.conninfo(dbname=TEMPLATE), autocommit=True) as conn:
        migrate.apply_compat(conn)
        migrate.apply_pending(conn)


def create_test_database(cluster: LocalCluster) -> Db:
    """Copy the template into a new database (a file copy: tens of milliseconds)."""
    name = f"test_{next(_counter)}_{secrets.token_hex(3)}"
    with psycopg.connect(cluster.conninfo(dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {} strategy file_copy").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE)))
    return Db(cluster, name)


def drop_test_database(db: Db) -> None:
    """Drop a test database, ending any connection a test left behind."""
    db.close()
    with psycopg.connect(db.cluster.conninfo(dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(db.name)))
