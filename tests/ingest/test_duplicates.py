"""The same alert delivered twice makes one job: by its id for 24 h, by its content for 60 s."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row

from tests.ingest.conftest import Desk, make_desk

ALERT = json.dumps({"action": "buy", "symbol": "EURUSD", "price": 1.085, "time": "2025-11-20T14:00:00Z"})


def _now(desk: Desk) -> datetime:
    row = desk.db.admin.execute("select now() as t").fetchone()
    assert row is not None and isinstance(row["t"], datetime)
    return row["t"]


def test_the_same_alert_twice_makes_one_job_and_logs_the_second_as_duplicate(desk: Desk) -> None:
    first = desk.ingest(ALERT)
    second = desk.ingest(ALERT)
    assert first["code"] == "accepted"
    assert (second["status"], second["reason"], second["code"], second["job_id"]) == (
        "discarded", "duplicate", "duplicate", None)
    assert desk.signal(second["signal_id"])["error_message"] == "duplicate"
    assert desk.count("jobs") == 1 and desk.count("tv_signals") == 2


def test_content_is_compared_as_json_not_as_bytes(desk: Desk) -> None:
    assert desk.ingest('{"action":"buy","symbol":"EURUSD","price":1.085}')["code"] == "accepted"
    assert desk.ingest('{ "price": 1.085,\n "symbol": "EURUSD", "action": "buy" }')["code"] == "duplicate"
    # A different time field is a different alert.
    assert desk.ingest('{"action":"buy","symbol":"EURUSD","price":1.085,"time":"14:01"}')["code"] == "accepted"


def test_an_alert_id_makes_deliveries_the_same_whatever_else_differs(desk: Desk) -> None:
    assert desk.ingest('{"id": "order-7", "action": "buy", "symbol": "EURUSD", "time": "1"}')["code"] == "accepted"
    assert desk.ingest('{"id": "order-7", "action": "buy", "symbol": "EURUSD", "time": "2"}')["code"] == "duplicate"
    assert desk.ingest('{"id": "order-8", "action": "buy", "symbol": "EURUSD", "time": "2"}')["code"] == "accepted"
    assert desk.count("jobs") == 2


def test_windows_are_24_hours_for_an_id_and_60_seconds_for_content(desk: Desk) -> None:
    now = _now(desk)
    by_id = '{"id": "A", "action": "sell", "symbol": "EURUSD"}'
    assert desk.ingest(by_id, received_at=now - timedelta(hours=25))["code"] == "accepted"
    assert desk.ingest(by_id, received_at=now)["code"] == "accepted"
    assert desk.ingest(by_id, received_at=now - timedelta(hours=23))["code"] == "duplicate"

    by_content = '{"action": "sell", "symbol": "GBPUSD"}'
    assert desk.ingest(by_content, received_at=now - timedelta(seconds=61))["code"] == "accepted"
    assert desk.ingest(by_content, received_at=now)["code"] == "accepted"
    assert desk.ingest(by_content, received_at=now - timedelta(seconds=59))["code"] == "duplicate"


def test_pineconnector_alerts_are_compared_by_content(desk: Desk) -> None:
    assert desk.ingest("60123456789,buy,EURUSD,risk=1")["code"] == "accepted"
    assert desk.ingest("  60123456789,buy,EURUSD,risk=1\n")["code"] == "duplicate"


def test_duplicates_are_per_strategy(desk: Desk) -> None:
    _, other_secret = desk.add_strategy("Second")
    assert desk.ingest(ALERT)["code"] == "accepted"
    assert desk.ingest(ALERT, secret=other_secret)["code"] == "accepted"
    other = make_desk(desk.db)
    try:
        assert other.ingest(ALERT)["code"] == "accepted"
    finally:
        other.close()


def test_a_delivery_racing_an_uncommitted_one_waits_for_it_and_is_a_duplicate(desk: Desk) -> None:
    first = psycopg.connect(desk.ingest_url, row_factory=dict_row)  # in a transaction until commit
    try:
        row = first.execute("select code from public.ingest_tv_signal(%s, %s)", (desk.secret, ALERT)).fetchone()
        assert row == {"code": "accepted"}
        results: list[dict[str, object]] = []
        racer = threading.Thread(target=lambda: results.append(desk.ingest(ALERT)))
        racer.start()
        deadline = time.monotonic() + 10
        while not _waits_on_advisory_lock(desk):
            assert time.monotonic() < deadline, "the second delivery never waited for the first"
            assert racer.is_alive(), f"the second delivery did not wait: {results}"
            time.sleep(0.01)
        first.commit()
        racer.join(10)
    finally:
        first.close()
    assert [r["code"] for r in results] == ["duplicate"]
    assert desk.count("jobs") == 1


def _waits_on_advisory_lock(desk: Desk) -> bool:
    row = desk.db.admin.execute(
        "select count(*) as n from pg_stat_activity where datname = current_database() "
        "and usename = 'tnm_ingest' and wait_event_type = 'Lock' and wait_event = 'advisory'").fetchone()
    return row is not None and row["n"] == 1


def test_many_identical_deliveries_at_once_make_exactly_one_job(desk: Desk) -> None:
    threads = 8
    barrier = threading.Barrier(threads)

    def deliver(n: int) -> str:
        with psycopg.connect(desk.ingest_url, autocommit=True) as conn:
            barrier.wait()
            row = conn.execute("select code from public.ingest_tv_signal(%s, %s)",
                               (desk.secret, f'{{"action": "buy", "symbol": "EURUSD", "id": "round-{n}"}}')).fetchone()
            assert row is not None
            return str(row[0])

    for round_no in range(5):
        barrier.reset()
        with ThreadPoolExecutor(threads) as pool:
            codes = list(pool.map(deliver, [round_no] * threads))
        assert sorted(codes) == ["accepted"] + ["duplicate"] * (threads - 1), codes
    assert desk.count("jobs") == 5 and desk.count("tv_signals") == 5 * threads
