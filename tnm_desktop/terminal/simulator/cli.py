"""``tnm-desktop simulator``: serve a simulated MT5 terminal, print its history."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
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
    serve.set_defaults(handler=_serve)
    history = actions.add_parser("history", help="print the history orders and deals as JSON lines")
    history.add_argument("--state", type=Path, required=True, help="state file")
    history.set_defaults(handler=_history)


def _serve(args: argparse.Namespace) -> int:
    from tnm_desktop import lifeline
    from tnm_desktop.terminal.simulator.server import serve

    lifeline.watch_owner()  # started by the app or the demo: stop (as on SIGTERM) when it is gone

    offset = None if args.server_offset is None else round(args.server_offset * 3600)
    return serve(args.state, port=args.port, manual_clock=args.manual_clock, seed=args.seed, server_offset_s=offset)


def _history(args: argparse.Namespace) -> int:
    from tnm_desktop.errors import UserError
    from tnm_desktop.terminal.simulator import views
    from tnm_desktop.terminal.simulator.broker import Broker
    from tnm_desktop.terminal.simulator.store import StateFile

    state = StateFile(args.state).load()
    if state is None:
        raise UserError(f"{args.state} does not exist.", code="no_state_file")
    broker = Broker(state, state.last_scan_ms)
    for order in sorted(state.history_orders, key=lambda o: (o.time_setup_msc, o.ticket)):
        record = views.order_record(broker, order, active=False)
        print(json.dumps({"record": "order", **record._asdict()}))
    for deal in sorted(state.deals, key=lambda d: (d.time_msc, d.ticket)):
        print(json.dumps({"record": "deal", **views.deal_record(state, deal)._asdict()}))
    sys.stdout.flush()
    return 0
