"""Rows written straight into the test database, as the backend (webhook receiver, agent) would.

Seed before a view context subscribes to live changes, so that bulk seeding does not arrive as a
flood of live inserts.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from tests.pg import Agent, Db, User


def seed_broker(db: Db, user: User, name: str = "IC Markets Demo", *, suffix: str = ".m",
                agent: Agent | None = None, symbol_map: dict[str, str] | None = None) -> str:
    """A broker connection; returns its id."""
    row = db.admin.execute(
        "insert into broker_connections (user_id, agent_id, name, broker_name, server, login, symbol_suffix, "
        "symbol_map) values (%s, %s, %s, 'IC Markets', 'ICMarketsSC-Demo', 5001, %s, %s) returning id::text as id",
        (user.id, agent.id if agent else None, name, suffix, json.dumps(symbol_map or {}))).fetchone()
    assert row is not None
    return str(row["id"])


def seed_strategy(db: Db, user: User, name: str, broker_id: str, *, pairs: list[str] | None = None,
                  risk: float | None = None) -> str:
    """A TradingView strategy; returns its id."""
    row = db.admin.execute(
        "insert into tv_strategies (user_id, broker_connection_id, name, allowed_pairs, risk_override_pct) "
        "values (%s, %s, %s, %s, %s) returning id::text as id", (user.id, broker_id, name, pairs, risk)).fetchone()
    assert row is not None
    return str(row["id"])


def seed_signals(db: Db, user: User, strategy_id: str, count: int, *, newest: datetime | None = None,
                 step: timedelta = timedelta(seconds=1)) -> None:
    """``count`` signals one ``step`` apart, newest first from ``newest`` (default: now), mixed statuses."""
    db.admin.execute(
        "insert into tv_signals (strategy_id, user_id, symbol, action, price, raw_payload, status, "
        "error_message, received_at) "
        "select %s, %s, (array['EURUSD','GBPUSD','XAUUSD'])[1 + i %% 3], (array['buy','sell'])[1 + i %% 2], "
        "1.08 + i / 100000.0, jsonb_build_object('n', i, 'symbol', (array['EURUSD','GBPUSD','XAUUSD'])[1 + i %% 3]), "
        "(array['pending','executed','failed','discarded'])[1 + i %% 4], "
        "case when i %% 4 = 2 then 'Market closed' when i %% 4 = 3 then 'Symbol not allowed' end, "
        "coalesce(%s, now()) - %s * i from generate_series(0, %s - 1) i",
        (strategy_id, user.id, newest, step, count))


def seed_trade_job(db: Db, user: User, signal_id: str, agent: Agent, *, received: datetime,
                   steps_ms: tuple[int, int, int, int] = (2, 5, 3, 40), fill: float = 1.08512,
                   order_id: str = "50012345") -> str:
    """A completed trade job for a signal with the stage times ``steps_ms`` apart; marks it executed."""
    created = received + timedelta(milliseconds=steps_ms[0])
    claimed = created + timedelta(milliseconds=steps_ms[1])
    sent = claimed + timedelta(milliseconds=steps_ms[2])
    completed = sent + timedelta(milliseconds=steps_ms[3])
    row = db.admin.execute(
        "insert into jobs (user_id, job_type, payload, status, agent_id, attempts, created_at, claimed_at, "
        "started_at, sent_at, completed_at, result) values (%s, 'trade', '{}', 'completed', %s, 1, %s, %s, %s, %s, "
        "%s, %s) returning id::text as id",
        (user.id, agent.id, created, claimed, claimed, sent, completed,
         json.dumps({"order": order_id, "price": fill}))).fetchone()
    assert row is not None
    job_id = str(row["id"])
    db.admin.execute(
        "update tv_signals set job_id = %s, status = 'executed', fill_price = %s, broker_order_id = %s, "
        "resolved_at = %s where id = %s", (job_id, fill, order_id, completed, signal_id))
    return job_id
