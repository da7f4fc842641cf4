"""The arguments of ``tnm-desktop simulator``: serve a simulated MT5 terminal, print its history.

The composition root runs them (:mod:`tnm_desktop.composition.simulator`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def register(commands: Any, serve_handler: Handler, history_handler: Handler) -> None:
    """Add the ``simulator`` command and its actions to ``commands`` (argparse subparsers)."""
    simulator = commands.add_parser("simulator", help="the simulated MetaTrader 5 terminal")
    actions = simulator.add_subparsers(title="simulator commands", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="run the simulator on 127.0.0.1 until stopped; print listening=HOST:PORT")
    serve.add_argument("--state", type=Path, required=True, help="state file (created if missing)")
    serve.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    serve.add_argument("--manual-clock", action="store_true",
                       help="new state only: time moves only when the control API advances it")
    serve.add_argument("--seed", type=int, help="new state only: seed of the price feed")
    serve.add_argument("--server-offset", type=float, metavar="HOURS",
                       help="new state only: trade server time minus UTC, in hours (default 2)")
    serve.set_defaults(handler=serve_handler)
    history = actions.add_parser("history", help="print the history orders and deals as JSON lines")
    history.add_argument("--state", type=Path, required=True, help="state file")
    history.set_defaults(handler=history_handler)
