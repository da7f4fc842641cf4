"""The webhook receiver: embedded beside a local workspace, or on its own (``tnm-desktop webhook serve``).

Both run it on a selector event loop (its database pool is psycopg's): on a thread of its own
when embedded, on the main thread's loop when on its own.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from typing import TYPE_CHECKING

from tnm_desktop.errors import OperationalError, UserError
from tnm_desktop.loops import selector_loop

if TYPE_CHECKING:
    from tnm_desktop.webhook.server import WebhookReceiver


def start_receiver(database_url: str, port: int) -> WebhookReceiver:
    """Start a webhook receiver on ``port``, or on any free port when that one is taken. Blocks."""
    from tnm_desktop.webhook.config import ReceiverConfig  # aiohttp: loaded when a receiver is wanted
    from tnm_desktop.webhook.server import WebhookReceiver

    config = ReceiverConfig(database_url=database_url, port=port, burst=50, rate_per_second=20)
    receiver = WebhookReceiver(config, loop_factory=selector_loop)
    try:
        receiver.start()
    except OperationalError:
        receiver = WebhookReceiver(replace(config, port=0), loop_factory=selector_loop)
        receiver.start()
    return receiver


def serve(database: str | None, *, host: str, port: int, rate: float, burst: int, max_body: int) -> int:
    """Serve until SIGTERM or SIGINT (Ctrl+C); print ``listening=URL`` once ready."""
    from tnm_desktop.webhook.config import DATABASE_ENV, ReceiverConfig
    from tnm_desktop.webhook.server import serve_until_stopped

    database = database or os.environ.get(DATABASE_ENV, "")
    if not database:
        raise UserError(f"Give the database URL of role tnm_ingest with --database or ${DATABASE_ENV}.",
                        code="invalid")
    try:
        config = ReceiverConfig(database_url=database, host=host, port=port, rate_per_second=rate, burst=burst,
                                max_body_bytes=max_body)
    except ValueError as exc:
        raise UserError(str(exc), code="invalid") from exc

    def ready(base_url: str) -> None:
        print(f"listening={base_url}", flush=True)

    with asyncio.Runner(loop_factory=selector_loop) as runner:
        return runner.run(serve_until_stopped(config, ready))
