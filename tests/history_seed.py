"""Closed trades worked out by hand: five positions of two strategies and none, for the SQL and GUI tests.

Nets: #101 +49.20 (A, by its token), #102 −60.70 (A, by its magic), #103 −10.00 (B, gold, closed in
two parts on D2 23:30 UTC), #105 +15.00 (no strategy); #104 is still open. Slippage of A's two
fills: +1.5 and −0.5 pips.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.pg import Db
from tests.world import World

D1 = datetime(2026, 11, 18, tzinfo=UTC)
D2 = datetime(2026, 11, 19, tzinfo=UTC)


def magic_of(strategy_id: str) -> int:
    from tnm_desktop.agent.trading import magic_for

    return magic_for(strategy_id)


def strategy(db: Db, world: World, name: str) -> str:
    row = db.admin.execute("insert into tv_strategies (user_id, broker_connection_id, name) values (%s, %s, %s) "
                           "returning id::text as id", (world.user.id, world.ids["broker_connections"], name)).fetchone()
    assert row is not None
    return str(row["id"])


def deal(db: Db, world: World, ticket: int, position: int, side: str, entry: str, volume: float, price: float,
         at: datetime, *, profit: float = 0, commission: float = 0, swap: float = 0, magic: int = 0,
         comment: str = "", symbol: str = "EURUSD.m") -> None:
    db.admin.execute(
        "insert into trades (user_id, account_id, ticket, position_id, symbol, side, entry, volume, price, profit, "
        "commission, swap, magic, comment, executed_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s)", (world.user.id, world.ids["trading_accounts"], ticket, position, symbol, side, entry, volume, price,
                    profit, commission, swap, magic, comment, at))


def traded_job(db: Db, world: World, strategy_id: str, token: str, slippage: float | None = None) -> tuple[str, str]:
    """A completed trade job with its intent token, and its executed signal; returns (job, signal)."""
    result = {"price": 1.1} | ({"slippage_pips": slippage} if slippage is not None else {})
    job = db.admin.execute(
        "insert into jobs (user_id, job_type, payload, status, intent, result) values (%s, 'trade', %s, 'completed', "
        "%s, %s) returning id::text as id",
        (world.user.id, json.dumps({"strategy_id": strategy_id, "broker_symbol": "EURUSD.m",
                                    "broker_connection_id": world.ids["broker_connections"]}),
         json.dumps({"token": token}), json.dumps(result))).fetchone()
    assert job is not None
    signal = db.admin.execute(
        "insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload, status, job_id, received_at) "
        "values (%s, %s, 'EURUSD', 'buy', '{}', 'executed', %s, %s) returning id::text as id",
        (strategy_id, world.user.id, job["id"], D1)).fetchone()
    assert signal is not None
    return str(job["id"]), str(signal["id"])


def seed_history(db: Db, world: World) -> tuple[str, str, str]:
    """Five positions: four closed (two strategies and none), one open. Returns (A, B, the job of #101)."""
    db.admin.execute("delete from trades where user_id = %s", (world.user.id,))
    a, b = strategy(db, world, "Alpha"), strategy(db, world, "Beta")
    job, _signal = traded_job(db, world, a, "tnm-00000000000000a1", slippage=1.5)
    traded_job(db, world, a, "tnm-00000000000000a2", slippage=-0.5)
    # 1 (A, by its token): buy 0.10 at 1.1000 → 1.1050, +50 − 0.35 − 0.35 − 0.10 = +49.20, closes D1 10:00.
    deal(db, world, 1, 101, "buy", "in", 0.10, 1.1000, D1, commission=-0.35, magic=999,
         comment="tnm-00000000000000a1")
    deal(db, world, 2, 101, "sell", "out", 0.10, 1.1050, D1 + timedelta(hours=10), profit=50, commission=-0.35,
         swap=-0.10, comment="[tp 1.10500]")
    # 2 (A, by its magic): sell 0.20 at 1.2000 → 1.2030, −60 − 0.70 = −60.70, closes D1 12:00.
    deal(db, world, 3, 102, "sell", "in", 0.20, 1.2000, D1 + timedelta(hours=1), commission=-0.35, magic=magic_of(a))
    deal(db, world, 4, 102, "buy", "out", 0.20, 1.2030, D1 + timedelta(hours=12), profit=-60, commission=-0.35,
         magic=magic_of(a))
    # 3 (B): buy 0.05 gold, closed in two parts: +20 − 30 = −10, closes D2 23:30 UTC (D3 in Berlin).
    deal(db, world, 5, 103, "buy", "in", 0.05, 2000, D1 + timedelta(hours=2), magic=magic_of(b), symbol="XAUUSD.m")
    deal(db, world, 6, 103, "sell", "out", 0.02, 2010, D2 + timedelta(hours=1), profit=20, magic=magic_of(b),
         symbol="XAUUSD.m")
    deal(db, world, 7, 103, "sell", "out", 0.03, 1990, D2 + timedelta(hours=23, minutes=30), profit=-30,
         magic=magic_of(b), symbol="XAUUSD.m")
    # 4 (A): still open, a partial close so far: not in the history.
    deal(db, world, 8, 104, "buy", "in", 0.30, 1.1000, D2, magic=magic_of(a))
    deal(db, world, 9, 104, "sell", "out", 0.10, 1.1010, D2 + timedelta(hours=2), profit=10, magic=magic_of(a))
    # 5 (no strategy, opened by hand): +15, closes D2 09:00.
    deal(db, world, 10, 105, "buy", "in", 0.10, 1.3000, D2 + timedelta(hours=8))
    deal(db, world, 11, 105, "sell", "out", 0.10, 1.3015, D2 + timedelta(hours=9), profit=15)
    return a, b, job


