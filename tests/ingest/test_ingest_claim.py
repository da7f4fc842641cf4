"""Ingestion that claims the new trade for the app's idle agent (migration 20251221000000).

Called as the app's receiver calls it: as role ``tnm_ingest``, with the agent's id and key.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.ingest.conftest import Desk

_CALL = ("select i.signal_id::text, i.status, i.reason, i.job_id::text, i.code, i.risk_state, "
         "(i.claimed).id::text as claimed_id, (i.claimed).status as claimed_status, "
         "(i.claimed).agent_id::text as claimed_by, (i.claimed).lease_token is not null as leased, "
         "(i.claimed).claimed_at >= (i.claimed).created_at as in_order "
         "from public.ingest_tv_signal_and_claim(%s, %s, now(), %s, %s, %s, 60) i")
BUY = '{"action": "buy", "symbol": "EURUSD", "sl_pips": 20}'


def _ingest_and_claim(desk: Desk, body: str, *, key: str | None = None, reject: str | None = None,
                      conn: psycopg.Connection[dict[str, Any]] | None = None) -> dict[str, Any]:
    args = (desk.secret, body, reject, desk.agent.id, desk.agent.key if key is None else key)
    if conn is not None:
        row = conn.execute(_CALL, args).fetchone()
    else:
        with psycopg.connect(desk.ingest_url, autocommit=True, row_factory=dict_row) as own:
            row = own.execute(_CALL, args).fetchone()
    assert row is not None
    return dict(row)


def _job(desk: Desk, job_id: str | None) -> dict[str, Any]:
    row = desk.db.admin.execute("select status, agent_id::text, lease_token from jobs where id = %s",
                                (job_id,)).fetchone()
    assert row is not None
    return dict(row)


def test_a_new_trade_comes_back_claimed_for_the_agent(desk: Desk) -> None:
    row = _ingest_and_claim(desk, BUY)
    assert (row["code"], row["status"]) == ("accepted", "pending")
    assert (row["claimed_id"], row["claimed_status"], row["claimed_by"], row["leased"]) == (
        row["job_id"], "running", desk.agent.id, True)
    # Picked up after it was queued, as the signal's detail shows it, though in the same transaction.
    assert row["in_order"] is True
    assert _job(desk, row["job_id"])["status"] == "running"
    # An entry brings the trader's limits with it, as the agent's own claim does.
    assert row["risk_state"]["limits"]["max_lot_size"] == 2
    assert desk.signal(row["signal_id"])["job_id"] is not None


def test_a_close_is_claimed_without_limits(desk: Desk) -> None:
    row = _ingest_and_claim(desk, '{"action": "close", "symbol": "EURUSD"}')
    assert (row["claimed_id"], row["risk_state"]) == (row["job_id"], None)


def test_a_key_not_accepted_claims_nothing_and_loses_nothing(desk: Desk) -> None:
    row = _ingest_and_claim(desk, BUY, key="pk_wrong")
    assert (row["code"], row["claimed_id"], row["risk_state"]) == ("accepted", None, None)
    assert _job(desk, row["job_id"])["status"] == "pending"  # the agent's own claim takes it


def test_a_revoked_agent_claims_nothing(desk: Desk) -> None:
    desk.db.admin.execute("update mt5_agents set revoked_at = now() where id = %s", (desk.agent.id,))
    row = _ingest_and_claim(desk, BUY)
    assert (row["code"], row["claimed_id"]) == ("accepted", None)
    assert _job(desk, row["job_id"]) == {"status": "pending", "agent_id": None, "lease_token": None}


def test_the_oldest_waiting_job_is_claimed_first(desk: Desk) -> None:
    older = desk.ingest('{"action": "buy", "symbol": "EURUSD", "id": "first"}')
    row = _ingest_and_claim(desk, '{"action": "sell", "symbol": "EURUSD", "id": "second"}')
    assert row["claimed_id"] == older["job_id"] != row["job_id"]
    assert _job(desk, row["job_id"])["status"] == "pending"


def test_an_alert_that_creates_no_job_claims_nothing(desk: Desk) -> None:
    waiting = desk.ingest(BUY)
    for body, reject in [("not json", None), ('{"action": "buy", "symbol": "EURUSD", "id": 2}', "rate limited")]:
        row = _ingest_and_claim(desk, body, reject=reject)
        assert (row["job_id"], row["claimed_id"]) == (None, None), row
    assert _job(desk, waiting["job_id"])["status"] == "pending"


def test_the_alert_is_still_committed_durably(desk: Desk) -> None:
    # The claim turns the flush off for its own transaction (20251219000000); here the same
    # transaction logs the alert, which must be on disk before TradingView hears "received".
    with psycopg.connect(desk.ingest_url, row_factory=dict_row) as conn:
        conn.execute("set synchronous_commit = on")  # the workspace's setting (the test cluster's is off)
        row = _ingest_and_claim(desk, BUY, conn=conn)
        assert row["claimed_id"] == row["job_id"] is not None
        assert conn.execute("show synchronous_commit").fetchone() == {"synchronous_commit": "on"}
        conn.commit()
