"""Running the receiver: database outages, a slow database, slow clients, the CLI, the thread API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg import sql
from tnm_desktop.errors import OperationalError
from tnm_desktop.webhook.config import ReceiverConfig
from tnm_desktop.webhook.server import WebhookReceiver, start_receiver

from tests.ingest.conftest import Desk

UNREACHABLE = "postgresql://tnm_ingest@/tnm?host=/nonexistent-tnm-socket-dir&port=5"


async def _post(session: aiohttp.ClientSession, url: str, body: str) -> tuple[int, Any, dict[str, str]]:
    async with session.post(url, data=body) as resp:
        return resp.status, await resp.json(content_type=None), dict(resp.headers)


async def test_an_unreachable_database_answers_503_with_retry_after(desk: Desk) -> None:
    running = await start_receiver(ReceiverConfig(database_url=UNREACHABLE, port=0, pool_timeout=0.3))
    try:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            status, body, headers = await _post(session, f"{running.base_url}/tv/{desk.secret}", "{}")
            assert time.monotonic() - started < 3
            assert (status, body["status"], headers["Retry-After"]) == (503, "unavailable", "5")
            async with session.get(f"{running.base_url}/healthz") as resp:
                assert resp.status == 503
    finally:
        await running.close()


def _allow_connections(desk: Desk, allow: bool) -> None:
    """Let the receiver's role in, or shut it out and cut its connections (an outage)."""
    with psycopg.connect(desk.db.cluster.conninfo(dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("alter database {} with allow_connections {}").format(
            sql.Identifier(desk.db.name), sql.SQL("true" if allow else "false")))
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                     "where usename = 'tnm_ingest' and datname = %s", (desk.db.name,))


async def test_a_database_outage_answers_503_and_the_receiver_recovers(desk: Desk) -> None:
    running = await start_receiver(ReceiverConfig(database_url=desk.ingest_url, port=0, pool_timeout=0.5))
    url = f"{running.base_url}/tv/{desk.secret}"
    ok = 0
    try:
        async with aiohttp.ClientSession() as session:
            assert (await _post(session, url, '{"action": "buy", "symbol": "EURUSD", "id": 0}'))[0] == 200
            ok += 1
            _allow_connections(desk, False)
            status, body, headers = await _post(session, url, '{"action": "buy", "symbol": "EURUSD", "id": 1}')
            assert (status, body["status"], "Retry-After" in headers) == (503, "unavailable", True)
            _allow_connections(desk, True)
            deadline = time.monotonic() + 20
            while True:
                status, _, _ = await _post(session, url, f'{{"action": "buy", "symbol": "EURUSD", "id": "r{ok}"}}')
                if status == 200:
                    ok += 1
                    break
                assert status == 503 and time.monotonic() < deadline, status
                await asyncio.sleep(0.2)
    finally:
        await running.close()
    assert desk.count("tv_signals") == ok == 2


async def test_a_database_too_slow_to_answer_in_time_gets_503_within_three_seconds(desk: Desk) -> None:
    running = await start_receiver(ReceiverConfig(database_url=desk.ingest_url, port=0, statement_timeout_ms=300))
    url = f"{running.base_url}/tv/{desk.secret}"
    blocker = desk.db.connect()
    try:
        async with aiohttp.ClientSession() as session:
            # Logging the signal needs a key-share lock on its strategy; hold a stronger one.
            blocker.execute("select 1 from tv_strategies where id = %s for update", (desk.strategy_id,))
            started = time.monotonic()
            status, _, headers = await _post(session, url, '{"action": "buy", "symbol": "EURUSD"}')
            assert (status, "Retry-After" in headers) == (503, True)
            assert time.monotonic() - started < 3
            blocker.rollback()
            assert (await _post(session, url, '{"action": "buy", "symbol": "EURUSD"}'))[0] == 200
    finally:
        blocker.close()
        await running.close()
    assert desk.count("tv_signals") == 1


async def test_a_body_that_does_not_arrive_in_time_gets_408_and_is_logged(desk: Desk) -> None:
    running = await start_receiver(ReceiverConfig(database_url=desk.ingest_url, port=0, read_timeout=0.3))
    host, port = running.base_url.removeprefix("http://").split(":")
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"POST /tv/{desk.secret} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                     '{"action": "b'.encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        await writer.wait_closed()
    finally:
        await running.close()
    assert head.startswith(b"HTTP/1.1 408")
    row = desk.db.admin.execute("select status, error_message, raw_payload from tv_signals").fetchone()
    assert row == {"status": "discarded", "error_message": "the alert did not arrive completely within 0.3 s",
                   "raw_payload": '{"action": "b'}


def _post_sync(url: str, body: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body.encode(), method="POST")  # noqa: S310 — a loopback URL
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_embedded_receiver_runs_on_its_own_thread_and_stops(desk: Desk) -> None:
    receiver = WebhookReceiver(ReceiverConfig(database_url=desk.ingest_url, port=0))
    base_url = receiver.start()
    try:
        assert (receiver.running, receiver.base_url) == (True, base_url)
        assert any(t.name == "webhook-receiver" for t in threading.enumerate())
        status, body = _post_sync(f"{base_url}/tv/{desk.secret}", '{"action": "sell", "symbol": "EURUSD"}')
        assert (status, body["status"]) == (200, "pending")
        port = int(base_url.rsplit(":", 1)[1])
        with pytest.raises(OperationalError, match=f"port {port} is in use"):
            WebhookReceiver(ReceiverConfig(database_url=desk.ingest_url, port=port)).start()
    finally:
        receiver.stop()
    assert (receiver.running, receiver.base_url) == (False, None)
    assert not any(t.name == "webhook-receiver" for t in threading.enumerate())
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    receiver.stop()  # stopping twice is harmless


def test_the_cli_prints_where_it_listens_and_stops_on_sigterm(desk: Desk) -> None:
    env = dict(os.environ, TNM_WEBHOOK_DATABASE_URL=desk.ingest_url)
    proc = subprocess.Popen([sys.executable, "-m", "tnm_desktop", "webhook", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening=http://127.0.0.1:"), line
        status, body = _post_sync(f"{line.split('=', 1)[1]}/tv/{desk.secret}", "60123456789,buy,EURUSD,risk=1")
        assert (status, body["status"]) == (200, "pending")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "receiver stopping" in stderr and desk.secret not in stderr


def test_the_cli_says_what_is_missing_without_a_database() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TNM_WEBHOOK_DATABASE_URL"}
    done = subprocess.run([sys.executable, "-m", "tnm_desktop", "webhook", "serve"], capture_output=True,
                          text=True, env=env, timeout=30, check=False)
    assert done.returncode == 2
    assert "--database or $TNM_WEBHOOK_DATABASE_URL" in done.stderr


async def test_a_role_that_may_not_ingest_answers_503_not_500(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    wrong_role = desk.db.cluster.conninfo(user="authenticator", dbname=desk.db.name)
    running = await start_receiver(ReceiverConfig(database_url=wrong_role, port=0))
    try:
        async with aiohttp.ClientSession() as session:
            status, body, _ = await _post(session, f"{running.base_url}/tv/{desk.secret}", "{}")
    finally:
        await running.close()
    assert (status, body["status"]) == (503, "unavailable")
    assert "ingestion refused the call (InsufficientPrivilege)" in caplog.text
    assert desk.count("tv_signals") == 0
