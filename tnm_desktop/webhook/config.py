"""Settings of the webhook receiver."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

# Where ``tnm-desktop webhook serve`` finds the database URL when --database is not given: the
# environment keeps a password out of the process list.
DATABASE_ENV = "TNM_WEBHOOK_DATABASE_URL"

# TradingView gives up after 3 seconds; every answer must leave margin for the network.
ANSWER_WITHIN_SECONDS = 2.5


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    """How the receiver listens, reaches the database and limits its callers.

    Attributes:
        database_url: libpq URL of role ``tnm_ingest``. It may hold a password, so ``repr``
            never shows it.
        host: Address to listen on. Behind a reverse proxy keep 127.0.0.1.
        port: TCP port; 0 picks a free one (the URL it got is reported on start).
        rate_per_second: Requests per second a strategy may keep sending.
        burst: Requests a strategy may send at once before the rate applies.
        max_body_bytes: A longer body is answered 413 without being read further.
        read_timeout: Seconds the whole body may take to arrive.
        idle_timeout: Seconds a connection may stay open without a request arriving (from when
            it opens, or since the last answer on it); then it is closed.
        statement_timeout_ms: Limit of one ingestion call inside the database.
        pool_size: Database connections at most.
        pool_timeout: Seconds to wait for a database connection before answering 503.
        retry_after: Seconds the ``Retry-After`` header of a 503 asks callers to wait.
        direct: The database is reached directly (the app's own), not through a transaction
            pooler: the ingestion call is then prepared once per connection, which saves its
            parsing and planning on every alert. Behind a pooler prepared statements break.
    """

    database_url: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8787
    rate_per_second: float = 2.0
    burst: int = 20
    max_body_bytes: int = 64 * 1024
    read_timeout: float = 1.0
    idle_timeout: float = 15.0
    statement_timeout_ms: int = 1500
    pool_size: int = 4
    pool_timeout: float = 1.0
    retry_after: int = 5
    direct: bool = False

    def __post_init__(self) -> None:
        if self.rate_per_second <= 0 or self.burst < 1:
            raise ValueError("rate_per_second must be positive and burst at least 1")
        if self.max_body_bytes < 1 or self.pool_size < 1:
            raise ValueError("max_body_bytes and pool_size must be positive")
        if self.read_timeout <= 0 or self.idle_timeout <= 0:
            raise ValueError("read_timeout and idle_timeout must be positive")


def secret_digest(secret: str) -> str:
    """The SHA-256 of a webhook secret, hex: what the receiver keys its state by."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def secret_tag(secret: str) -> str:
    """A short, non-reversible name of a webhook secret, for logs (the secret never is logged)."""
    return secret_digest(secret)[:8]
