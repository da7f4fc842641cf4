"""The ``tnm-desktop`` command.

``tnm-desktop`` alone opens the desktop app; subcommands run its parts on their own. Each
subcommand imports what it needs when it runs, so ``tnm-desktop db up`` never loads Qt.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tnm_desktop.errors import TnmError

Handler = Callable[[argparse.Namespace], int]


def _db_up(args: argparse.Namespace) -> int:
    from tnm_desktop import pgcluster

    cluster, ran = pgcluster.up(args.dir, port=args.port)
    for migration in ran:
        print(f"applied {migration.version}_{migration.name}")
    print(cluster.conninfo())
    return 0


def _db_down(args: argparse.Namespace) -> int:
    from tnm_desktop import pgcluster

    was_running = pgcluster.down(args.dir)
    print("stopped" if was_running else "not running")
    return 0


def _db_status(args: argparse.Namespace) -> int:
    from tnm_desktop import pgcluster

    state = pgcluster.status(args.dir)
    print(f"initialized={'yes' if state.initialized else 'no'}")
    print(f"running={'yes' if state.running else 'no'}")
    if state.url:
        print(f"url={state.url}")
    for name in state.applied:
        print(f"applied {name}")
    for name in state.pending:
        print(f"pending {name}")
    return 0


def _gui(args: argparse.Namespace) -> int:
    from tnm_desktop.gui.shell.app import run

    return run(demo=getattr(args, "demo", False), workspace=getattr(args, "workspace", None))


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="tnm-desktop",
        description="TNM Desktop: TradingView strategies, signals, EA Studio and the MT5 agent.")
    parser.add_argument("--demo", action="store_true",
                        help="open the demo workspace (local database, simulator, demo data)")
    parser.add_argument("--workspace", type=Path, help="open this local workspace directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.set_defaults(handler=_gui)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    gui = commands.add_parser("gui", help="open the desktop app (the default)")
    gui.set_defaults(handler=_gui)

    db = commands.add_parser("db", help="the local workspace database")
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    up = db_commands.add_parser("up", help="create (first time) and start it; print its URL last")
    up.add_argument("--dir", type=Path, required=True, help="database directory")
    up.add_argument("--port", type=int, help="TCP port on 127.0.0.1 (default: a free one)")
    up.set_defaults(handler=_db_up)
    down = db_commands.add_parser("down", help="stop it")
    down.add_argument("--dir", type=Path, required=True, help="database directory")
    down.set_defaults(handler=_db_down)
    status = db_commands.add_parser("status", help="say whether it runs and what is applied")
    status.add_argument("--dir", type=Path, required=True, help="database directory")
    status.set_defaults(handler=_db_status)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return parser


# Parts that bring their own subcommands: each module has ``register(subparsers)`` and must be
# cheap to import (heavy imports go inside its handlers).
COMMAND_MODULES: list[str] = ["tnm_desktop.webhook.cli", "tnm_desktop.terminal.simulator.cli",
                              "tnm_desktop.composition.headless_agent", "tnm_desktop.demo.cli"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tnm-desktop``; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    handler: Handler = args.handler
    try:
        return handler(args)
    except TnmError as exc:
        print(f"tnm-desktop: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
