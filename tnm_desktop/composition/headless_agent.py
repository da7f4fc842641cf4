"""``tnm-desktop agent``: the MT5 agent without a window, the same code the app embeds.

On a local workspace (``--dir``) the process is trusted the way the database socket is (only its
owner can reach either): it acts for the owner of the workspace's agent. On a Supabase profile
(``--profile``) it restores the session remembered by "remember me" in the app.

The process's loop and the agent's are selector loops (psycopg runs on them directly); SIGTERM and
Ctrl+C (Ctrl+Break on Windows) let the job in flight finish, then stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from tnm_desktop.data.port import DataPort
from tnm_desktop.domain import AgentCredentials
from tnm_desktop.loops import selector_loop, stop_on_signals

log = logging.getLogger(__name__)


def run(workspace_dir: Path | None, profile: str | None, agent_id: str | None, *, heartbeat: float = 15.0,
        notify: bool = True) -> int:
    """Run the agent of a local workspace or of a Supabase profile until SIGTERM or SIGINT.

    Args:
        workspace_dir: A local workspace (or None, with ``profile``).
        profile: A Supabase connection profile's name or id.
        agent_id: Which paired agent (None: the workspace's, or the only one).
        heartbeat: Seconds between heartbeats; the agent counts as down after two missed.
        notify: Send the Telegram and e-mail notifications this process claims.
    """
    from tnm_desktop.errors import UserError

    if not 1 <= heartbeat <= 3600:
        raise UserError("--heartbeat must be between 1 and 3600 seconds.", code="invalid")
    with asyncio.Runner(loop_factory=selector_loop) as runner:
        return runner.run(_main(workspace_dir, profile, agent_id, heartbeat, notify))


@dataclass
class _Setup:
    data_factory: Callable[[], Awaitable[DataPort]]  # the agent's, and the notification sender's
    creds: AgentCredentials
    workdir: Path
    simulator_state: Path | None
    close: Callable[[], Awaitable[None]]


async def _main(workspace_dir: Path | None, profile: str | None, agent_id: str | None, heartbeat: float,
                notify: bool) -> int:
    from tnm_desktop import lifeline
    from tnm_desktop.agent.events import AgentEvent, StateChanged
    from tnm_desktop.agent.worker import AgentSettings
    from tnm_desktop.composition.agent import agent_thread

    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    restore = stop_on_signals(loop, stop_requested.set)

    def owner_gone() -> None:  # started by the headless demo: end with it, however it ends
        loop.call_soon_threadsafe(stop_requested.set)

    lifeline.watch_owner(owner_gone)
    try:
        if workspace_dir is not None:
            setup = await _local(workspace_dir, agent_id)
        else:
            setup = await _supabase(profile or "", agent_id)
        notifier = None if not notify else loop.create_task(_notify(setup), name="agent-notifications")
        try:
            thread = agent_thread(setup.data_factory, setup.creds, setup.workdir, setup.simulator_state,
                                  AgentSettings(heartbeat_every=heartbeat))
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
            finished = asyncio.ensure_future(done.wait())
            await asyncio.wait({stopping, finished}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            thread.stop()
            await finished
            await asyncio.to_thread(thread.join, 30)
        finally:
            if notifier is not None:
                notifier.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await notifier
            await setup.close()
    finally:
        restore()
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


async def _local(workspace_dir: Path, agent_id: str | None) -> _Setup:
    import psycopg

    from tnm_desktop import keystore
    from tnm_desktop.agent.pairing import load_credentials
    from tnm_desktop.data.local.adapter import LocalAdapter
    from tnm_desktop.domain import Session
    from tnm_desktop.errors import OperationalError
    from tnm_desktop.workspace import Workspace

    # An agent works for a workspace that exists: a mistyped folder must not become a new one.
    workspace = Workspace(workspace_dir)
    await asyncio.to_thread(workspace.check_exists)
    conns = await asyncio.to_thread(workspace.open)
    try:
        agent_id = agent_id or (await asyncio.to_thread(workspace.settings)).agent_id
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

    return _Setup(data_factory, creds, workspace.root / "ea", workspace.simulator_state, close)


async def _supabase(profile_name: str, agent_id: str | None) -> _Setup:
    from tnm_desktop.agent.pairing import load_credentials
    from tnm_desktop.composition.services import open_services
    from tnm_desktop.errors import OperationalError, UserError
    from tnm_desktop.profiles import ProfileStore, data_dir

    profiles, _ = await asyncio.to_thread(ProfileStore().load)
    profile = next((p for p in profiles if profile_name in (p.id, p.name)), None)
    if profile is None:
        raise UserError(f"No connection profile named {profile_name!r}.", code="no_profile")
    services = await open_services(profile)
    try:
        if await services.data.restore_session() is None:
            raise OperationalError("No remembered session for this profile: sign in once in the app with "
                                   "\"remember me\".", code="signed_out")
        agents = [a for a in await services.data.list_agents() if a.paired]
        agent_id = agent_id or (agents[0].id if len(agents) == 1 else None)
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
    return _Setup(services.data.spawn(), creds, data_dir() / "ea", None, services.close)
