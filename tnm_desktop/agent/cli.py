"""``tnm-desktop agent``: the MT5 agent without a window, the same code the app embeds.

On a local workspace (``--dir``) the process is trusted the way the database socket is (only its
owner can reach either): it acts for the owner of the workspace's agent. On a Supabase profile
(``--profile``) it restores the session remembered by "remember me" in the app.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``agent`` subcommand."""
    parser = commands.add_parser("agent", help="run the MT5 agent without a window (until SIGTERM)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--dir", type=Path, help="a local workspace directory")
    where.add_argument("--profile", help="a Supabase connection profile (name or id) with a remembered session")
    parser.add_argument("--agent-id", help="which paired agent to run (default: the workspace's / the only one)")
    parser.add_argument("--heartbeat", type=float, default=15.0, metavar="SECONDS",
                        help="seconds between heartbeats (default 15); the agent counts as down after two missed")
    parser.add_argument("--no-notify", action="store_true",
                        help="send no Telegram or e-mail notifications from this process")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    from tnm_desktop.agent.events import AgentEvent, StateChanged
    from tnm_desktop.agent.thread import AgentThread
    from tnm_desktop.agent.worker import AgentSettings
    from tnm_desktop.errors import UserError

    if not 1 <= args.heartbeat <= 3600:
        raise UserError("--heartbeat must be between 1 and 3600 seconds.", code="invalid")
    setup = await (_local(args) if args.dir else _supabase(args))
    thread = AgentThread(setup.data_factory, setup.creds, setup.runner_factory,
                         AgentSettings(heartbeat_every=args.heartbeat))
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    notifier = None if args.no_notify else loop.create_task(_notify(setup), name="agent-notifications")

    def on_event(event: AgentEvent) -> None:
        if isinstance(event, StateChanged):
            print(f"state={event.state.value}" + (f" detail={event.detail}" if event.detail else ""), flush=True)
            if event.state.value == "stopped":
                loop.call_soon_threadsafe(done.set)

    thread.add_listener(on_event)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, thread.stop)
    thread.start()
    await done.wait()
    await asyncio.to_thread(thread.join, 30)
    if notifier is not None:
        notifier.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await notifier
    await setup.close()
    return 0


async def _notify(setup: _Setup) -> None:
    # This process sends the notifications it claims (another process sends the rest: the outbox
    # gives each to one sender). Runs beside the agent, on this loop, with its own connection.
    from tnm_desktop.notify.dispatcher import Dispatcher, default_claimer

    data = await setup.data_factory()
    session = data.session
    if session is None:
        await data.close()
        return
    try:
        await Dispatcher(data, session.user_id, default_claimer("the headless agent")).run()
    finally:
        await data.close()


class _Setup:
    def __init__(self, data_factory, creds, runner_factory, close) -> None:  # type: ignore[no-untyped-def]
        self.data_factory = data_factory
        self.creds = creds
        self.runner_factory = runner_factory
        self.close = close


async def _local(args: argparse.Namespace) -> _Setup:
    import psycopg

    from tnm_desktop import keystore
    from tnm_desktop.agent.compose import runner_factory
    from tnm_desktop.agent.pairing import load_credentials
    from tnm_desktop.data.local.adapter import LocalAdapter
    from tnm_desktop.domain import Session
    from tnm_desktop.errors import OperationalError
    from tnm_desktop.workspace import Workspace

    workspace = Workspace(args.dir)
    await asyncio.to_thread(keystore.ensure_keyring, workspace.root)
    conns = await asyncio.to_thread(workspace.open)
    agent_id = args.agent_id or workspace.settings().agent_id
    if not agent_id:
        raise OperationalError("This workspace has no paired agent: pair one in the app's Agent view, or pass "
                               "--agent-id.", code="agent_missing")
    creds = await load_credentials(agent_id)
    if creds is None:
        raise OperationalError("The pairing key of this agent is not in this machine's keyring: pair the agent "
                               "again on this machine.", code="agent_key_missing")

    def owner() -> tuple[str, str]:
        with psycopg.connect(conns.admin) as conn:
            row = conn.execute("select u.id::text, u.email from public.mt5_agents a join auth.users u on "
                               "u.id = a.user_id where a.id = %s", (agent_id,)).fetchone()
        if row is None:
            raise OperationalError(f"No agent {agent_id} in this workspace.", code="agent_missing")
        return str(row[0]), str(row[1] or "")

    user_id, email = await asyncio.to_thread(owner)

    async def data_factory() -> LocalAdapter:
        adapter = LocalAdapter(conns.app, conns.auth, f"session:workspace:{workspace.root}")
        adapter.act_as(Session(user_id, email, "local"))
        return adapter

    async def close() -> None:
        return None

    return _Setup(data_factory, creds, runner_factory(workspace.root / "ea", workspace.simulator_state), close)


async def _supabase(args: argparse.Namespace) -> _Setup:
    from tnm_desktop.agent.compose import runner_factory
    from tnm_desktop.agent.pairing import load_credentials
    from tnm_desktop.errors import OperationalError, UserError
    from tnm_desktop.profiles import ProfileStore, data_dir
    from tnm_desktop.services import open_services

    profiles, _ = await asyncio.to_thread(ProfileStore().load)
    profile = next((p for p in profiles if args.profile in (p.id, p.name)), None)
    if profile is None:
        raise UserError(f"No connection profile named {args.profile!r}.", code="no_profile")
    services = await open_services(profile)
    if await services.data.restore_session() is None:
        raise OperationalError("No remembered session for this profile: sign in once in the app with "
                               "\"remember me\".", code="signed_out")
    agents = [a for a in await services.data.list_agents() if a.paired]
    agent_id = args.agent_id or (agents[0].id if len(agents) == 1 else None)
    if agent_id is None:
        raise UserError("Several agents are paired: pass --agent-id.", code="ambiguous_agent")
    creds = await load_credentials(agent_id)
    if creds is None:
        raise OperationalError("The pairing key of this agent is not in this machine's keyring.",
                               code="agent_key_missing")
    spawn = services.data.spawn()
    return _Setup(spawn, creds, runner_factory(data_dir() / "ea"), services.close)
