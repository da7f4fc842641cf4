"""``tnm-desktop demo``: the whole pipeline on this machine, with or without a window."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    parser = commands.add_parser("demo", help="run the demo workspace: database, simulator, receiver, agent")
    parser.add_argument("--headless", action="store_true",
                        help="no window: print key=value lines and run until SIGTERM")
    parser.add_argument("--dir", type=Path, help="the demo workspace folder (default: in your data folder)")
    parser.add_argument("--port", type=int, help="the receiver's port (default 8787, or a free one)")
    parser.add_argument("--heartbeat", type=float, metavar="SECONDS",
                        help="the headless agent's heartbeat period (default 15); it counts as down after two")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from tnm_desktop.demo.run import default_demo_dir, start_demo

    root = args.dir or default_demo_dir()
    if not args.headless:
        from tnm_desktop.gui.app import run

        return run(demo=True, workspace=root)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    demo = start_demo(root, agent_process=True, receiver_port=args.port, heartbeat=args.heartbeat)
    try:
        for line in demo.lines():
            print(line, flush=True)
        stop.wait()
    finally:
        demo.stop()
    return 0
