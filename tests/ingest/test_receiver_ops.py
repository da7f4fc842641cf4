"""Running the local receiver: a database outage and recovery, the thread API, the CLI."""

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
from datetime import UTC, datetime
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg import sql
from tnm_desktop.errors import OperationalError
from tnm_desktop.webhook.config import ReceiverConfig
from tnm_desktop.webhook.ingest import Ingestor
from tnm_desktop.webhook.server import WebhookReceiver, start_receiver

from tests.ingest.conftest import Desk


async def _post(session: aiohttp.ClientSession, url: str, body: str) -> tuple[int, Any, dict[str, str]]:
    async with session.post(url, data=body) as resp:
        return resp.status, await resp.json(content_type=None), dict(resp.headers)


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


@pytest.mark.parametrize("direct", [False, True], ids=["pooled-url", "direct"])
async def test_connections_the_database_dropped_cost_no_alert(desk: Desk, direct: bool) -> None:
    # A database restart leaves the pool holding dead connections; TradingView never sends an
    # alert twice, so the next alerts must each still be logged and answered 200. With the call
    # prepared (direct), a fresh connection prepares it again.
    running = await start_receiver(ReceiverConfig(database_url=desk.ingest_url, port=0, pool_size=4, direct=direct))
    url = f"{running.base_url}/tv/{desk.secret}"
    try:
        async with aiohttp.ClientSession() as session:
            first = [_post(session, url, f'{{"action": "buy", "symbol": "EURUSD", "id": "a{i}"}}') for i in range(4)]
            assert [status for status, _, _ in await asyncio.gather(*first)] == [200] * 4  # several in the pool
            with psycopg.connect(desk.db.cluster.conninfo(dbname="postgres"), autocommit=True) as conn:
                killed = conn.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                                      "where usename = 'tnm_ingest' and datname = %s", (desk.db.name,)).fetchone()
            assert killed is not None and killed[0] >= 1
            for i in range(3):
                status, body, _ = await _post(session, url, f'{{"action": "buy", "symbol": "EURUSD", "id": "b{i}"}}')
                assert (status, body["status"]) == (200, "pending"), body
    finally:
        await running.close()
    assert desk.count("tv_signals") == 7


@pytest.mark.parametrize("direct", [False, True], ids=["pooled-url", "direct"])
async def test_the_call_is_prepared_only_on_a_database_reached_directly(desk: Desk, direct: bool) -> None:
    # Behind a transaction pooler a prepared statement may land on another server connection and
    # fail; on the app's own database it saves parsing and planning the call on every alert.
    ingestor = Ingestor(desk.ingest_url, pool_size=1, direct=direct)
    await ingestor.open()
    try:
        for i in range(2):
            result = await ingestor.ingest(desk.secret, f'{{"action": "buy", "symbol": "EURUSD", "id": "p{i}"}}',
                                           datetime.now(UTC), within=5.0)
            assert result.status == "pending"
        async with ingestor._pool.connection() as conn:  # the pool's one connection, that made both calls
            row = await (await conn.execute("select count(*) from pg_prepared_statements "
                                            "where statement like 'select signal_id%%ingest_tv_signal%%'",
                                            prepare=False)).fetchone()
    finally:
        await ingestor.close()
    assert row is not None and row[0] == (1 if direct else 0)
    assert desk.count("tv_signals") == 2


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
