"""The arguments of ``tnm-desktop webhook serve`` (run the receiver on its own, for example next to a
Supabase project); the composition root runs it (:func:`tnm_desktop.composition.receiver.serve`).

Cheap to import: aiohttp and psycopg load only when the command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from tnm_desktop.webhook.config import DATABASE_ENV


def register(commands: Any, serve_handler: Callable[[argparse.Namespace], int]) -> None:
    """Add ``webhook serve`` to the ``tnm-desktop`` subcommands; ``serve_handler`` runs it."""
    webhook = commands.add_parser("webhook", help="the TradingView webhook receiver")
    actions = webhook.add_subparsers(title="webhook commands", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve", help="receive TradingView alerts at POST /tv/<secret>; print listening=URL when ready",
        description="Receive TradingView alerts and log them through public.ingest_tv_signal. "
                    "Stops cleanly on SIGTERM or SIGINT.")
    serve.add_argument("--database", metavar="URL",
                       help=f"libpq URL of role tnm_ingest (default: ${DATABASE_ENV}, which keeps a "
                            "password out of the process list)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8787, help="TCP port; 0 picks a free one (default: 8787)")
    serve.add_argument("--rate", type=float, default=2.0, metavar="N",
                       help="requests per second each strategy may keep sending (default: 2)")
    serve.add_argument("--burst", type=int, default=20, metavar="N",
                       help="requests each strategy may send at once (default: 20)")
    serve.add_argument("--max-body", type=int, default=64 * 1024, metavar="BYTES",
                       help="longest body read; longer is answered 413 (default: 65536)")
    serve.set_defaults(handler=serve_handler)
