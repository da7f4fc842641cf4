"""The ``tnm-desktop`` command: it parses the arguments and calls the composition root.

``tnm-desktop`` alone opens the desktop app; subcommands run its parts on their own. Each
handler imports its mode of :mod:`tnm_desktop.composition` when it runs, so ``tnm-desktop db up``
never loads Qt (the parsers themselves are cheap to import).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tnm_desktop import __version__
from tnm_desktop.errors import TnmError
from tnm_desktop.terminal.simulator import cli as simulator_cli
from tnm_desktop.webhook import cli as webhook_cli

Handler = Callable[[argparse.Namespace], int]


def _gui(args: argparse.Namespace) -> int:
    from tnm_desktop.composition import gui

    return gui.run(demo=getattr(args, "demo", False), workspace=getattr(args, "workspace", None))


def _db_up(args: argparse.Namespace) -> int:
    from tnm_desktop.composition import database

    return database.up(args.dir, port=args.port)


def _db_down(args: argparse.Namespace) -> int:
    from tnm_desktop.composition import database

    return database.down(args.dir)


def _db_status(args: argparse.Namespace) -> int:
    from tnm_desktop.composition import database

    return database.status(args.dir)


def _agent(args: argparse.Namespace) -> int:
    from tnm_desktop.composition import headless_agent

    return headless_agent.run(args.dir, args.profile, args.agent_id, heartbeat=args.heartbeat,
                              notify=not args.no_notify)


def _demo(args: argparse.Namespace) -> int:
    from tnm_desktop.composition import demo, gui

    if not args.headless:
        return gui.run(demo=True, workspace=args.dir or demo.default_demo_dir())
    return demo.run_headless(args.dir, args.port, heartbeat=args.heartbeat)


def _mt5_test(args: argparse.Namespace) -> int:
    from tnm_desktop.composition import mt5_check

    return mt5_check.run(args.terminal, args.login, args.server, args.simulator_state, args.password_stdin)


def _webhook_serve(args: argparse.Namespace) -> int:
    from tnm_desktop.composition import receiver

    return receiver.serve(args.database, host=args.host, port=args.port, rate=args.rate, burst=args.burst,
                          max_body=args.max_body)


def _simulator_serve(args: argparse.Namespace) -> int:
    from tnm_desktop.composition import simulator

    return simulator.serve(args.state, port=args.port, manual_clock=args.manual_clock, seed=args.seed,
                           server_offset_hours=args.server_offset)


def _simulator_history(args: argparse.Namespace) -> int:
    from tnm_desktop.composition import simulator

    return simulator.history(args.state)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="tnm-desktop",
        description="TNM Desktop: TradingView strategies, signals, EA Studio and the MT5 agent.")
    parser.add_argument("--demo", action="store_true",
                        help="open the demo workspace (local database, simulator, demo data)")
    parser.add_argument("--workspace", type=Path, help="open this local workspace directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"tnm-desktop {__version__}")
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

    webhook_cli.register(commands, _webhook_serve)
    simulator_cli.register(commands, _simulator_serve, _simulator_history)

    mt5 = commands.add_parser("mt5", help="MetaTrader 5")
    mt5_commands = mt5.add_subparsers(title="mt5 commands", metavar="ACTION", required=True)
    test = mt5_commands.add_parser("test", help="test the connection to a terminal; print the account as JSON")
    test.add_argument("--terminal", default="",
                      help="terminal64.exe, simulator: or mt5linux://host:port (default: the installed one)")
    test.add_argument("--login", type=int, help="the account number to log in to")
    test.add_argument("--server", help="its trade server")
    test.add_argument("--password-stdin", action="store_true", help="read the account's password from stdin")
    test.add_argument("--simulator-state", type=Path, help="the simulator's state file (for simulator:)")
    test.set_defaults(handler=_mt5_test)

    agent = commands.add_parser("agent", help="run the MT5 agent without a window (until SIGTERM)")
    where = agent.add_mutually_exclusive_group(required=True)
    where.add_argument("--dir", type=Path, help="a local workspace directory")
    where.add_argument("--profile", help="a Supabase connection profile (name or id) with a remembered session")
    agent.add_argument("--agent-id", help="which paired agent to run (default: the workspace's / the only one)")
    agent.add_argument("--heartbeat", type=float, default=15.0, metavar="SECONDS",
                       help="seconds between heartbeats (default 15); the agent counts as down after two missed")
    agent.add_argument("--no-notify", action="store_true",
                       help="send no Telegram or e-mail notifications from this process")
    agent.set_defaults(handler=_agent)

    demo = commands.add_parser("demo", help="run the demo workspace: database, simulator, receiver, agent")
    demo.add_argument("--headless", action="store_true",
                      help="no window: print key=value lines and run until SIGTERM")
    demo.add_argument("--dir", type=Path, help="the demo workspace folder (default: in your data folder)")
    demo.add_argument("--port", type=int, help="the receiver's port for this run (default: the workspace's, "
                                               "8787 unless changed; 0: any free port)")
    demo.add_argument("--heartbeat", type=float, metavar="SECONDS",
                      help="the headless agent's heartbeat period (default 15); it counts as down after two")
    demo.set_defaults(handler=_demo)
    return parser


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
    except OSError as exc:  # a file-system problem no part put in words: still one line, no traceback
        from tnm_desktop.files import problem

        print(f"tnm-desktop: {problem(exc, 'the path').message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
