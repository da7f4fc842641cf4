"""The receiver over real HTTP: status codes and bodies, the body cap, rate limits, clean logs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from tnm_desktop.webhook.config import ReceiverConfig, secret_tag
from tnm_desktop.webhook.ratelimit import RateLimiter
from tnm_desktop.webhook.server import RunningReceiver, start_receiver

from tests.ingest.conftest import Desk

NOT_FOUND = {"signal_id": None, "status": "not_found", "reason": "not found"}
ALERT = {"action": "buy", "symbol": "EURUSD", "price": 1.085}
BIG = json.dumps({"action": "buy", "symbol": "EURUSD", "comment": "x" * 12_000})


class Client:
    """Posts to one receiver and remembers what it was told."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.session = session

    async def post(self, secret: str, body: str | bytes) -> tuple[int, Any, dict[str, str]]:
        async with self.session.post(f"{self.base_url}/tv/{secret}", data=body) as resp:
            return resp.status, await resp.json(content_type=None), dict(resp.headers)

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(f"{self.base_url}{path}") as resp:
            return resp.status, await resp.json(content_type=None)


async def serve(desk: Desk, **settings: Any) -> RunningReceiver:
    """A receiver for the desk's database, on a free port."""
    return await start_receiver(ReceiverConfig(database_url=desk.ingest_url, port=0, **settings))


@pytest.fixture
async def client(desk: Desk) -> AsyncIterator[Client]:
    running = await serve(desk, rate_per_second=1000, burst=1000)
    async with aiohttp.ClientSession() as session:
        yield Client(running.base_url, session)
    await running.close()


async def test_an_accepted_alert_answers_200_with_the_signal(desk: Desk, client: Client) -> None:
    status, body, _ = await client.post(desk.secret, json.dumps(ALERT))
    assert status == 200
    assert body == {"signal_id": body["signal_id"], "status": "pending", "reason": None}
    assert desk.signal(body["signal_id"])["status"] == "pending" and desk.count("jobs") == 1

    status, again, _ = await client.post(desk.secret, json.dumps(ALERT))
    assert (status, again["status"], again["reason"]) == (200, "discarded", "duplicate")
    assert again["signal_id"] != body["signal_id"] and desk.count("jobs") == 1


@pytest.mark.parametrize(("body", "status", "reason"), [
    ("hello", 400, "the alert is neither JSON nor PineConnector syntax (LicenseID,buy,EURUSD,risk=1)"),
    ("[]", 400, 'the alert must be a JSON object, like {"action": "buy", "symbol": "EURUSD"}'),
    ('{"action": "buy", "symbol": "EURUSD", "risk": "x"}', 422, 'risk must be a number (got "x")'),
    ("60123456789,buylimit,EURUSD,risk=1", 422, "buylimit needs price=<where the order waits>"),
    (BIG, 413, f"the alert is too large ({len(BIG)} bytes; the limit is 10000)"),
], ids=["text", "array", "bad-number", "pending-order", "over-10000-bytes"])
async def test_bad_input_gets_a_4xx_with_the_reason_and_is_logged(
        desk: Desk, client: Client, body: str, status: int, reason: str) -> None:
    got, answer, _ = await client.post(desk.secret, body)
    assert (got, answer["status"], answer["reason"]) == (status, "discarded", reason)
    assert desk.signal(answer["signal_id"])["error_message"] == reason
    assert desk.count("jobs") == 0


async def test_a_disabled_strategy_answers_403(desk: Desk, client: Client) -> None:
    _, secret = desk.add_strategy("Paused", is_enabled=False)
    status, body, _ = await client.post(secret, json.dumps(ALERT))
    assert (status, body["status"], body["reason"]) == (403, "discarded", "strategy is disabled")
    assert desk.count("tv_signals") == 1 and desk.count("jobs") == 0


async def test_unknown_and_wrong_secrets_and_paths_get_one_identical_404(desk: Desk, client: Client) -> None:
    old = desk.secret
    desk.db.call_as(desk.user, "select rotate_strategy_secret(%s)", (desk.strategy_id,))
    answers = [await client.post(secret, json.dumps(ALERT)) for secret in (old, "nope", "%00", "x" * 300)]
    assert {(status, json.dumps(body)) for status, body, _ in answers} == {(404, json.dumps(NOT_FOUND))}
    assert await client.get("/tv/") == (404, NOT_FOUND)
    assert await client.get("/anything/else") == (404, NOT_FOUND)
    assert desk.count("tv_signals") == 0


async def test_healthz_says_the_database_answers(client: Client) -> None:
    assert await client.get("/healthz") == (200, {"status": "ok", "database": "ok"})


async def test_a_body_over_the_cap_is_refused_unread_and_still_logged(desk: Desk) -> None:
    running = await serve(desk, max_body_bytes=1000)
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(running.base_url, session)
            big = '{"action": "buy", "symbol": "EURUSD", "comment": "' + "y" * 200_000 + '"}'
            status, body, _ = await client.post(desk.secret, big)
            assert (status, body["reason"]) == (413, "the alert is too large (more than 1000 bytes)")
            raw = desk.signal(body["signal_id"])["raw_payload"]
            assert raw == big[:1000]
            assert (await client.post("unknown", big))[:2] == (404, NOT_FOUND)
            assert (await client.post(desk.secret, json.dumps(ALERT)))[0] == 200
    finally:
        await running.close()
    assert desk.count("tv_signals") == 2


async def test_each_strategy_is_rate_limited_and_limited_requests_are_logged(desk: Desk) -> None:
    _, other = desk.add_strategy("Other")
    running = await serve(desk, rate_per_second=0.01, burst=3)
    try:
        async with aiohttp.ClientSession() as session:
            client = Client(running.base_url, session)
            answers = [await client.post(desk.secret, json.dumps({**ALERT, "id": n})) for n in range(5)]
            assert [a[0] for a in answers] == [200, 200, 200, 429, 429]
            for _, body, headers in answers[3:]:
                assert (body["status"], body["reason"]) == ("discarded", "rate limited")
                assert int(headers["Retry-After"]) >= 1
            assert (await client.post(other, json.dumps(ALERT)))[0] == 200
    finally:
        await running.close()
    rows = desk.db.admin.execute("select status, error_message from tv_signals where strategy_id = %s",
                                 (desk.strategy_id,)).fetchall()
    assert sorted((r["status"], r["error_message"]) for r in rows) == [
        ("discarded", "rate limited")] * 2 + [("pending", None)] * 3


async def test_the_secret_never_reaches_the_log(desk: Desk, client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    unknown = "0123456789abcdef0123456789abcdef0123456789abcdef"
    for secret, body in [(desk.secret, json.dumps(ALERT)), (desk.secret, "junk"), (unknown, "{}"),
                         (desk.secret, "z" * 70_000)]:
        await client.post(secret, body)
    assert desk.secret not in caplog.text and unknown not in caplog.text
    assert f"POST /tv/{secret_tag(desk.secret)} 200" in caplog.text
    assert f"POST /tv/{secret_tag(unknown)} 404" in caplog.text
    assert f"strategy {secret_tag(desk.secret)}: 413" in caplog.text


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0], max_keys=2)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    now[0] += 0.25
    assert limiter.acquire("a") == pytest.approx(0.25)
    now[0] += 0.25
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("b") == 0.0  # buckets are per key
    limiter.acquire("c")  # forgets "a", the least recently used
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
