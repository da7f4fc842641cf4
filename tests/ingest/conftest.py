"""A trader's desk for ingestion tests: a user, a paired agent, a broker connection, a strategy.

Ingestion is called exactly as the receiver calls it: connected as role ``tnm_ingest``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from tnm_desktop.domain.trade import TradeInstruction

from tests.pg import Agent, Db, User

Row = dict[str, Any]
T = TypeVar("T")


class _Own:
    """Marks "the desk's own secret" where None means SQL NULL."""


OWN = _Own()


@dataclass
class Desk:
    """One trader's set-up and the ways to feed it alerts."""

    db: Db
    user: User
    agent: Agent
    broker_id: str
    strategy_id: str
    secret: str
    _conn: psycopg.Connection[Row] | None = field(default=None, repr=False)

    @property
    def ingest_url(self) -> str:
        """libpq URL of role tnm_ingest on this test database."""
        return self.db.cluster.conninfo(user="tnm_ingest", dbname=self.db.name)

    def ingest(self, body: str | None, *, secret: str | _Own | None = OWN, received_at: datetime | None = None,
               reject: str | None = None) -> Row:
        """Call public.ingest_tv_signal as the receiver does; return its one result row."""
        if self._conn is None:
            self._conn = psycopg.connect(self.ingest_url, autocommit=True, row_factory=dict_row)
        row = self._conn.execute(
            "select signal_id::text, status, reason, job_id::text, code "
            "from public.ingest_tv_signal(%s, %s, coalesce(%s, now()), %s)",
            (self.secret if isinstance(secret, _Own) else secret, body, received_at, reject)).fetchone()
        assert row is not None
        return row

    def close(self) -> None:
        """Close the ingest connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def add_strategy(self, name: str, **columns: Any) -> tuple[str, str]:
        """Another strategy on the same broker connection; return (id, secret)."""
        cols = {"user_id": self.user.id, "broker_connection_id": self.broker_id, "name": name, **columns}
        names = ", ".join(cols)
        marks = ", ".join(["%s"] * len(cols))
        row = self.db.admin.execute(
            f"insert into tv_strategies ({names}) values ({marks}) returning id::text as id, webhook_secret",
            tuple(cols.values())).fetchone()
        assert row is not None
        return str(row["id"]), str(row["webhook_secret"])

    def signal(self, signal_id: str | None) -> Row:
        """A tv_signals row, read as the superuser."""
        row = self.db.admin.execute("select * from tv_signals where id = %s", (signal_id,)).fetchone()
        assert row is not None, f"signal {signal_id} was not logged"
        return dict(row)

    def job(self, job_id: str | None) -> Row:
        """A jobs row, read as the superuser."""
        row = self.db.admin.execute("select * from jobs where id = %s", (job_id,)).fetchone()
        assert row is not None, f"job {job_id} does not exist"
        return dict(row)

    def instruction(self, result: Row) -> TradeInstruction:
        """The accepted alert's job payload, parsed by the agent's own parser."""
        assert result["code"] == "accepted", result
        return TradeInstruction.from_payload(self.job(result["job_id"])["payload"])

    def heard_on(self, channel: str, action: Callable[[], T]) -> tuple[T, list[tuple[str, str, str]]]:
        """Run ``action``; return what it returned and the (table, op, id) announced on ``channel``."""
        with psycopg.connect(self.db.cluster.conninfo(dbname=self.db.name), autocommit=True) as listener:
            listener.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
            result = action()
            # Notifications arrive in commit order: everything the action caused comes before this one.
            self.db.admin.execute("select pg_notify(%s, '{\"table\": \"end\"}')", (channel,))
            notes: list[dict[str, str]] = []
            for note in listener.notifies(timeout=10):
                notes.append(json.loads(note.payload))
                if notes[-1]["table"] == "end":
                    break
        assert notes.pop() == {"table": "end"}
        return result, [(n["table"], n["op"], n["id"]) for n in notes]

    def count(self, table: str, where: str = "true", params: tuple[Any, ...] = ()) -> int:
        """Rows of a table, as the superuser (every user's)."""
        row = self.db.admin.execute(f"select count(*) as n from {table} where {where}", params).fetchone()
        assert row is not None
        return int(row["n"])


def make_desk(db: Db, *, email: str | None = None) -> Desk:
    """A user with an agent serving a broker connection (suffix .m, XAUUSD → GOLD) and a strategy."""
    user = db.create_user(email)
    agent = db.create_agent(user)
    db.admin.execute("update user_settings set risk_percent = 0.75, max_lot_size = 2, default_sl_pips = 25 "
                     "where user_id = %s", (user.id,))
    broker = db.admin.execute(
        "insert into broker_connections (user_id, agent_id, name, symbol_suffix, symbol_map) "
        "values (%s, %s, 'Demo broker', '.m', '{\"XAUUSD\": \"GOLD\"}') returning id::text as id",
        (user.id, agent.id)).fetchone()
    assert broker is not None
    strategy = db.admin.execute(
        "insert into tv_strategies (user_id, broker_connection_id, name) values (%s, %s, 'Trend') "
        "returning id::text as id, webhook_secret", (user.id, broker["id"])).fetchone()
    assert strategy is not None
    return Desk(db, user, agent, str(broker["id"]), str(strategy["id"]), str(strategy["webhook_secret"]))


def other_users_signal(db: Db, body: str = '{"action": "buy", "symbol": "EURUSD"}') -> str:
    """Another user's accepted signal, so that "nothing logged" is checked across users."""
    other = make_desk(db)
    try:
        return str(other.ingest(body)["signal_id"])
    finally:
        other.close()


@pytest.fixture
def desk(db: Db) -> Iterator[Desk]:
    """One trader's desk on a fresh database."""
    made = make_desk(db)
    yield made
    made.close()
