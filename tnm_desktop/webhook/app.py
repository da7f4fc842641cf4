"""The aiohttp application: ``POST /tv/<secret>`` and ``GET /healthz`` (also ``/tv/healthz``).

HTTP status of an answer (the body is always ``{"signal_id", "status", "reason"}``):

=========================================  ======
accepted                                   200
duplicate (TradingView delivered it twice)  200
malformed body (not JSON, not PineConnector) 400
disabled strategy, trading off, no agent   403
unknown or wrong secret (one fixed body)   404
not POST (GET /tv/<secret>, …)             405
body did not arrive in time                408
body too large                             413
invalid alert (the reason says why)        422
rate limited                               429 + Retry-After
database unreachable or too slow           503 + Retry-After
=========================================  ======

Bad input never gets a 5xx: every request whose secret is known is logged by the database,
whatever is wrong with it; only an outage answers 503.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from tnm_desktop.errors import TransientError
from tnm_desktop.webhook.config import ANSWER_WITHIN_SECONDS, ReceiverConfig, secret_digest
from tnm_desktop.webhook.ingest import Ingestor, IngestRefused, IngestResult
from tnm_desktop.webhook.ratelimit import RateLimiter

log = logging.getLogger("tnm_desktop.webhook")

_HTTP_STATUS = {"accepted": 200, "duplicate": 200, "malformed": 400, "disabled": 403, "not_found": 404,
                "too_large": 413, "invalid": 422}
# One body for every unknown secret and every unknown path: nothing tells them apart.
_NOT_FOUND = {"signal_id": None, "status": "not_found", "reason": "not found"}
_WRONG_METHOD = {"signal_id": None, "status": "not_found", "reason": "send alerts with POST"}
_PROCESSING_FAILED = "the alert could not be processed"

CONFIG_KEY = web.AppKey("config", ReceiverConfig)
INGESTOR_KEY = web.AppKey("ingestor", Ingestor)
LIMITER_KEY = web.AppKey("limiter", RateLimiter)


@dataclass(frozen=True, slots=True)
class _Refusal:
    """Why the receiver itself refused a request (still logged by the database)."""

    reason: str
    http_status: int
    retry_after: int | None = None


def _answer(result: IngestResult | None, http_status: int, retry_after: int | None = None) -> web.Response:
    body = _NOT_FOUND if result is None or result.code == "not_found" else {
        "signal_id": result.signal_id, "status": result.status, "reason": result.reason}
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response(body, status=http_status, headers=headers)


def _unavailable(config: ReceiverConfig) -> web.Response:
    return web.json_response(
        {"signal_id": None, "status": "unavailable",
         "reason": "the signal database cannot be reached; try again shortly"},
        status=503, headers={"Retry-After": str(config.retry_after)})


async def _read_body(request: web.Request, config: ReceiverConfig) -> tuple[bytes, _Refusal | None]:
    """Read at most ``max_body_bytes`` (+1 to notice more) within ``read_timeout``."""
    limit = config.max_body_bytes
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(config.read_timeout):
            while size <= limit:
                chunk = await request.content.read(limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except TimeoutError:
        return b"".join(chunks), _Refusal(
            f"the alert did not arrive completely within {config.read_timeout:g} s", 408)
    body = b"".join(chunks)
    if size > limit:
        return body[:limit], _Refusal(f"the alert is too large (more than {limit} bytes)", 413)
    return body, None


async def receive_alert(request: web.Request) -> web.Response:
    """Handle ``POST /tv/<secret>``: log the alert through the database and say what happened."""
    started = time.monotonic()
    received_at = datetime.now(UTC)
    config = request.app[CONFIG_KEY]
    ingestor = request.app[INGESTOR_KEY]
    secret = request.match_info["secret"]
    digest = secret_digest(secret)
    tag = digest[:8]

    raw, refusal = await _read_body(request, config)
    if refusal is None:
        wait = request.app[LIMITER_KEY].acquire(digest)
        if wait > 0:
            refusal = _Refusal("rate limited", 429, max(1, math.ceil(wait)))
    body = raw.decode("utf-8", "replace")
    remaining = max(0.2, ANSWER_WITHIN_SECONDS - (time.monotonic() - started))
    try:
        try:
            result = await ingestor.ingest(secret, body, received_at, refusal.reason if refusal else None,
                                           within=remaining)
        except IngestRefused as exc:
            # Our bug, triggered by this request: log it as discarded rather than lose it.
            log.error("strategy %s: ingestion refused the call (%s); logging it as discarded", tag, exc)
            refusal = _Refusal(_PROCESSING_FAILED, 422)
            result = await ingestor.ingest(secret, body[:2000], received_at, refusal.reason,
                                           within=max(0.2, ANSWER_WITHIN_SECONDS - (time.monotonic() - started)))
    except (TransientError, IngestRefused) as exc:
        log.warning("strategy %s: answered 503, %s", tag, exc)
        return _unavailable(config)

    if result.code == "not_found":
        http_status, retry_after = 404, None
    elif result.code == "rejected" and refusal is not None:
        http_status, retry_after = refusal.http_status, refusal.retry_after
    else:
        http_status, retry_after = _HTTP_STATUS.get(result.code, 422), None
    # The database's reason may quote the body, which may hold anything (a secret too): only the
    # receiver's own reasons are logged; the signal log has the rest.
    own_reason = f" ({refusal.reason})" if refusal is not None and result.code == "rejected" else ""
    log.info("strategy %s: %s %s in %.0f ms%s%s", tag, http_status, result.code,
             (time.monotonic() - started) * 1000, own_reason, "; handed to the agent" if result.handed else "")
    return _answer(result, http_status, retry_after)


async def health(request: web.Request) -> web.Response:
    """Handle ``GET /healthz``: 200 when the database answers, else 503."""
    if await request.app[INGESTOR_KEY].healthy(within=1.0):
        return web.json_response({"status": "ok", "database": "ok"})
    return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503,
                             headers={"Retry-After": str(request.app[CONFIG_KEY].retry_after)})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer unknown paths with the same body as an unknown secret, and a wrong method in JSON too."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return web.json_response(_NOT_FOUND, status=404)
    except web.HTTPMethodNotAllowed as exc:
        return web.json_response(_WRONG_METHOD, status=405, headers={"Allow": ", ".join(sorted(exc.allowed_methods))})


def create_app(config: ReceiverConfig, ingestor: Ingestor, limiter: RateLimiter | None = None) -> web.Application:
    """Build the receiver's application around an (opened) ingestor."""
    app = web.Application(middlewares=[errors_as_json])
    app[CONFIG_KEY] = config
    app[INGESTOR_KEY] = ingestor
    app[LIMITER_KEY] = limiter or RateLimiter(config.rate_per_second, config.burst)
    app.router.add_post("/tv/{secret}", receive_alert)
    app.router.add_get("/healthz", health)
    # Where the Edge Function's platform serves only /tv/…, its health check is here: the same.
    app.router.add_get("/tv/healthz", health)
    return app
