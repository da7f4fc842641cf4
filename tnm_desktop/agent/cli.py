"""``tnm-desktop agent``: the MT5 agent without a window, the same code the app embeds.

On a local workspace (``--dir``) the process is trusted the way the database socket is (only its
owner can reach either): it acts for the owner of the workspace's agent. On a Supabase profile
(``--profile``) it restores the session remembered by "remember me" in the app.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``agent`` subcommand."""
    parser = commands.add_parser("agent", help="run the MT5 agent without a window (until SIGTERM)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--dir", type=Path, help="a local workspace directory")
    where.add_argument("--profile", help="a Supabase connection profile (name or id) with a remembered session")
    parser.add_argument("--agent-id", help="which paired agent to run (default: the workspace's / the only one)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    from tnm_desktop import lifeline
    from tnm_desktop.agent.events import AgentEvent, StateChanged
    from tnm_desktop.agent.thread import AgentThread

    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    _on_stop_signals(loop, stop_requested.set)
    def owner_gone() -> None:  # started by the headless demo: end with it, however it ends
        loop.call_soon_threadsafe(stop_requested.set)

    lifeline.watch_owner(owner_gone)
    setup = await (_local(args) if args.dir else _supabase(args))
    try:
        thread = AgentThread(setup.data_factory, setup.creds, setup.runner_factory)
        done = asyncio.Event()

        def on_event(event: AgentEvent) -> None:
            if isinstance(event, StateChanged):
                print(f"state={event.state.value}" + (f" detail={event.detail}" if event.detail else ""),
                      flush=True)
                if event.state.value == "stopped":
                    loop.call_soon_threadsafe(done.set)

        thread.add_listener(on_event)
        thread.start()
        stopping = asyncio.ensure_future(stop_requested.wait())
        await asyncio.wait({stopping, asyncio.ensure_future(done.wait())}, return_when=asyncio.FIRST_COMPLETED)
        thread.stop()
        await done.wait()
        await asyncio.to_thread(thread.join, 30)
    finally:
        await setup.close()
    return 0


def _on_stop_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    # SIGTERM and SIGINT (Ctrl+C; Ctrl+Break on Windows) stop the agent after its current job.
    names = ("SIGTERM", "SIGINT", "SIGBREAK")
    for sig in [getattr(signal, n) for n in names if hasattr(signal, n)]:
        try:
            loop.add_signal_handler(sig, stop)
        except NotImplementedError:  # Windows' event loops: a plain handler, back onto the loop
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop))


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

    # An agent works for a workspace that exists: a mistyped folder must not become a new one.
    workspace = Workspace(args.dir)
    await asyncio.to_thread(workspace.check_exists)
    conns = await asyncio.to_thread(workspace.open)
    try:
        agent_id = args.agent_id or (await asyncio.to_thread(workspace.settings)).agent_id
        await asyncio.to_thread(keystore.ensure_keyring, workspace.root)
        if not agent_id:
            raise OperationalError("This workspace has no paired agent: pair one in the app's Agent view, or "
                                   "pass --agent-id.", code="agent_missing")
        creds = await load_credentials(agent_id)
        if creds is None:
            raise OperationalError("The pairing key of this agent is not in this machine's keyring: pair the "
                                   "agent again on this machine.", code="agent_key_missing")

        def owner() -> tuple[str, str]:
            with psycopg.connect(conns.admin) as conn:
                row = conn.execute("select u.id::text, u.email from public.mt5_agents a join auth.users u on "
                                   "u.id = a.user_id where a.id::text = %s", (agent_id,)).fetchone()
            if row is None:
                raise OperationalError(f"This workspace has no agent {agent_id}: check --agent-id, or pair one "
                                       "in the app's Agent view.", code="agent_missing")
            return str(row[0]), str(row[1] or "")

        user_id, email = await asyncio.to_thread(owner)
    except BaseException:
        await asyncio.to_thread(workspace.close)  # stop the database if it was started for this agent
        raise

    async def data_factory() -> LocalAdapter:
        adapter = LocalAdapter(conns.app, conns.auth, f"session:workspace:{workspace.root}")
        adapter.act_as(Session(user_id, email, "local"))
        return adapter

    async def close() -> None:
        await asyncio.to_thread(workspace.close)

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
    try:
        if await services.data.restore_session() is None:
            raise OperationalError("No remembered session for this profile: sign in once in the app with "
                                   "\"remember me\".", code="signed_out")
        agents = [a for a in await services.data.list_agents() if a.paired]
        agent_id = args.agent_id or (agents[0].id if len(agents) == 1 else None)
        if agent_id is None:
            raise UserError("Several agents are paired: pass --agent-id." if agents else
                            "No agent is paired in this project: pair one in the app's Agent view.",
                            code="ambiguous_agent" if agents else "agent_missing")
        creds = await load_credentials(agent_id)
        if creds is None:
            raise OperationalError("The pairing key of this agent is not in this machine's keyring.",
                                   code="agent_key_missing")
    except BaseException:
        await services.close()
        raise
    spawn = services.data.spawn()
    return _Setup(spawn, creds, runner_factory(data_dir() / "ea"), services.close)
