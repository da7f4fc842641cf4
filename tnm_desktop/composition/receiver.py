"""The webhook receiver on its own (``tnm-desktop webhook serve``); a workspace's own one is
:mod:`tnm_desktop.composition.local_receiver`.

Both run it on a selector event loop (its database pool is psycopg's): on a thread of its own
when embedded, on the main thread's loop when on its own.
"""

from __future__ import annotations

import asyncio
import os

from tnm_desktop.errors import UserError
from tnm_desktop.loops import selector_loop


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
