"""The MT5 simulator as a process of its own: ``tnm-desktop simulator serve`` and ``history``."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def serve(state: Path, *, port: int, manual_clock: bool, seed: int | None, server_offset_hours: float | None) -> int:
    """Serve the simulator on 127.0.0.1 until stopped; print ``listening=HOST:PORT`` once ready."""
    from tnm_desktop import lifeline
    from tnm_desktop.terminal.simulator.server import serve as serve_simulator

    lifeline.watch_owner()  # started by the app or the demo: stop (as on SIGTERM) when it is gone
    offset = None if server_offset_hours is None else round(server_offset_hours * 3600)
    return serve_simulator(state, port=port, manual_clock=manual_clock, seed=seed, server_offset_s=offset)


def history(state_file: Path) -> int:
    """Print the history orders and deals of a simulator's state file as JSON lines."""
    from tnm_desktop.errors import UserError
    from tnm_desktop.terminal.simulator import views
    from tnm_desktop.terminal.simulator.broker import Broker
    from tnm_desktop.terminal.simulator.store import StateFile

    state = StateFile(state_file).load()
    if state is None:
        raise UserError(f"{state_file} does not exist.", code="no_state_file")
    broker = Broker(state, state.last_scan_ms)
    for order in sorted(state.history_orders, key=lambda o: (o.time_setup_msc, o.ticket)):
        record = views.order_record(broker, order, active=False)
        print(json.dumps({"record": "order", **record._asdict()}))
    for deal in sorted(state.deals, key=lambda d: (d.time_msc, d.ticket)):
        print(json.dumps({"record": "deal", **views.deal_record(state, deal)._asdict()}))
    sys.stdout.flush()
    return 0
