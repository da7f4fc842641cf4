"""The receiver's logs and connections under hostile clients: no secret in any line, one short line per
kind of malformed request, and connections that send nothing are closed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from tnm_desktop.webhook.config import ReceiverConfig, secret_tag
from tnm_desktop.webhook.logs import ServerErrorLog, exception_summary, redact_method, redact_path
from tnm_desktop.webhook.server import RunningReceiver, start_receiver

from tests.ingest.conftest import Desk
from tests.ingest.fuzzing import leaked_secrets


def hostile_requests(secret: str) -> list[bytes]:
    """Requests that put the secret where aiohttp or a naive access log would print it."""
    pct = "".join(f"%{b:02X}" for b in secret.encode())
    body = b'{"action": "buy", "symbol": "EURUSD"}'
    ok = f"Host: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    return [
        f"POST /TV/{secret} HTTP/1.1\r\n".encode() + ok,
        f"POST //tv/{secret} HTTP/1.1\r\n".encode() + ok,
        f"POST /tv/{secret}/more HTTP/1.1\r\n".encode() + ok,
        f"POST /tv/{secret.upper()} HTTP/1.1\r\n".encode() + ok,
        f"POST /%74v/{pct} HTTP/1.1\r\n".encode() + ok,
        f"POST /tv%2F{secret} HTTP/1.1\r\n".encode() + ok,
        f"POST /x?secret={secret} HTTP/1.1\r\n".encode() + ok,
        f"POST http://x/TV/{secret} HTTP/1.1\r\n".encode() + ok,
        f"{secret} /tv/x HTTP/1.1\r\n".encode() + ok,
        f"GET /{secret} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        f"POST /tv/{secret} HTTP/9.9\r\n\r\n".encode(),
        f"POST /tv/{secret}\x00 HTTP/1.1\r\n\r\n".encode(),
        f"PO\x01ST /tv/{secret} HTTP/1.1\r\n\r\n".encode(),
        f"POST /tv/x HTTP/1.1\r\nHost: x\r\nX-{secret}: 1\r\nContent-Length: {secret}\r\n\r\n".encode(),
        f"POST /tv/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{secret}\r\n".encode(),
        f"\x16\x03\x01\x02\x00{secret}".encode(),  # TLS spoken to the HTTP port
        f"{secret}\r\n\r\n".encode(),
    ]


async def exchange(base_url: str, raw: bytes, wait: float = 10.0) -> bytes:
    """Send raw bytes on a new connection; return everything the server sent before closing."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), wait)
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.fixture
async def receiver(desk: Desk) -> AsyncIterator[RunningReceiver]:
    running = await start_receiver(ReceiverConfig(database_url=desk.ingest_url, port=0, rate_per_second=1000,
                                                  burst=1000))
    yield running
    await running.close()


async def test_no_log_line_holds_a_secret_whatever_the_request(
        desk: Desk, receiver: RunningReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    answers = [await exchange(receiver.base_url, raw) for raw in hostile_requests(desk.secret)]
    elapsed = time.monotonic() - started
    assert all(a[:7] == b"HTTP/1." and a[9:10] in b"24" for a in answers), answers
    assert leaked_secrets(caplog.text, [desk.secret]) == []
    assert "Traceback" not in caplog.text
    malformed = [r for r in caplog.records if "malformed HTTP request" in r.getMessage()]
    # One line per 10 s at most, however many arrive (the first one is written at once).
    assert 1 <= len(malformed) <= 1 + elapsed // 10, [r.getMessage() for r in malformed]
    assert all(r.getMessage().count("\n") == 0 for r in caplog.records)
    # /%74v/<secret percent-encoded> is the strategy's URL spelled differently: it is logged as a signal.
    assert desk.count("tv_signals") == 1


def test_paths_and_methods_are_shown_without_what_a_client_put_in_them() -> None:
    secret = "0123456789abcdef" * 3
    assert redact_path(f"/tv/{secret}") == f"/tv/{secret_tag(secret)}"
    for path in (f"/TV/{secret}", f"//tv/{secret}", f"/{secret}", f"/x/{quote(secret)}"):
        assert redact_path(path) == f"<path {secret_tag(path)}>"
    assert [redact_path(p) for p in ("/healthz", "/tv/", "/")] == ["/healthz", "/tv/", "/"]
    assert (redact_method("POST"), redact_method(secret)) == ("POST", "<other>")


def test_server_errors_become_one_line_per_interval_without_their_message(caplog: pytest.LogCaptureFixture) -> None:
    from aiohttp.http_exceptions import BadStatusLine

    now = [0.0]
    log = ServerErrorLog(logging.getLogger("test.webhook.http"), interval=10, clock=lambda: now[0])
    caplog.set_level(logging.DEBUG, logger="test.webhook.http")

    def bad(line: str) -> BadStatusLine:
        try:
            raise BadStatusLine(line)
        except BadStatusLine as exc:
            return exc

    for n in range(3):
        log.exception("Error handling request from %s", "127.0.0.1", exc_info=bad(f"POST /tv/secret{n}"))
    now[0] = 10.5
    log.exception("Error handling request from %s", "not an address", exc_info=bad("POST /tv/secret3"))
    failure: KeyError | None = None
    empty: dict[str, int] = {}
    try:
        empty["the-secret"]
    except KeyError as exc:
        failure = exc
        log.exception("Error handling request from %s", "::1", exc_info=exc)
    assert failure is not None
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("INFO", "malformed HTTP request from 127.0.0.1 answered 400 (BadStatusLine)"),
        ("INFO", "malformed HTTP request answered 400 (BadStatusLine); 2 more like it in the last 10 s not logged"),
        ("ERROR", f"a request from ::1 failed inside the receiver ({exception_summary(failure)})"),
    ]
    assert "secret" not in caplog.text and "KeyError at test_receiver_logs.py:" in caplog.text


async def test_a_connection_that_sends_no_request_is_closed_after_the_idle_timeout(desk: Desk) -> None:
    running = await start_receiver(ReceiverConfig(database_url=desk.ingest_url, port=0, idle_timeout=0.5))
    host, port = running.base_url.removeprefix("http://").split(":")
    try:
        silent = await asyncio.open_connection(host, int(port))
        dribbling = await asyncio.open_connection(host, int(port))
        dribbling[1].write(b"POST /tv/")
        served = await asyncio.open_connection(host, int(port))
        served[1].write(f"POST /tv/{desk.secret} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        # Each is closed by the server: reading reaches the end (a margin far above 0.5 s).
        assert await asyncio.wait_for(silent[0].read(), 20) == b""
        assert await asyncio.wait_for(dribbling[0].read(), 20) == b""
        answer = await asyncio.wait_for(served[0].read(), 20)  # the answer, then the close
        assert answer.startswith(b"HTTP/1.1 422"), answer
        for _, writer in (silent, dribbling, served):
            writer.close()
    finally:
        await running.close()
