"""Arrangements the contract tests share: rows written as the backend (webhook, agent) would."""

from __future__ import annotations

import json
from datetime import datetime

from tnm_desktop.data.port import DataPort
from tnm_desktop.domain import BrokerConnectionDraft, Strategy, StrategyDraft

from tests.pg import Db, User


async def strategy_for(port: DataPort, name: str = "Trend", *, pairs: tuple[str, ...] | None = None) -> Strategy:
    """A broker connection and a strategy on it, made through the port."""
    broker = await port.create_broker_connection(BrokerConnectionDraft(name=f"{name} broker", symbol_suffix=".m"))
    return await port.create_strategy(StrategyDraft(name=name, broker_connection_id=broker.id, allowed_pairs=pairs))


def insert_signal(db: Db, user: User, strategy_id: str, *, symbol: str = "EURUSD", action: str = "buy",
                  status: str = "pending", received_at: datetime | None = None) -> str:
    """A signal as the webhook receiver logs it (another connection, as the backend)."""
    row = db.admin.execute(
        "insert into tv_signals (strategy_id, user_id, symbol, action, raw_payload, status, received_at) "
        "values (%s, %s, %s, %s, %s, %s, coalesce(%s, now())) returning id::text as id",
        (strategy_id, user.id, symbol, action, json.dumps({"symbol": symbol, "action": action}), status,
         received_at)).fetchone()
    assert row is not None
    return str(row["id"])
