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
    parser.add_argument("--port", type=int,
                        help="the receiver's port for this run (default: the workspace's, 8787 unless changed; "
                             "0: any free port)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from tnm_desktop.composition.demo import default_demo_dir, start_demo

    root = args.dir or default_demo_dir()
    if not args.headless:
        from tnm_desktop.gui.shell.app import run

        return run(demo=True, workspace=root)
    _check_port(root, args.port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    demo = start_demo(root, agent_process=True, receiver_port=args.port)
    try:
        for line in demo.lines():
            print(line, flush=True)
        stop.wait()
    finally:
        demo.stop()
    return 0


def _check_port(root: Path, port: int | None) -> None:
    """Say at once, in one line, that the receiver's port is taken, before starting anything."""
    from tnm_desktop.errors import OperationalError
    from tnm_desktop.webhook.local import port_available
    from tnm_desktop.workspace import Workspace

    wanted = port if port is not None else Workspace(root).settings().receiver_port
    if wanted and not port_available(wanted):
        raise OperationalError(f"Port {wanted} is in use by another program. Choose another port with --port.",
                               code="receiver_port")
