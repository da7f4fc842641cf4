"""The services of a connection profile: its data adapter, its workspace and receiver, its agent.

The GUI's controller and the headless commands call :func:`open_services`; this is where the data
adapters are constructed (the Supabase client and the agent's code are imported only when used).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tnm_desktop import keystore
from tnm_desktop.data.port import DataPort
from tnm_desktop.domain import Agent, AgentCredentials
from tnm_desktop.domain.handover import Handover
from tnm_desktop.errors import OperationalError
from tnm_desktop.profiles import ConnectionProfile, ProfileKind, config_dir, data_dir
from tnm_desktop.services import Services
from tnm_desktop.workspace import Workspace

if TYPE_CHECKING:
    from tnm_desktop.agent.thread import AgentThread, DataFactory
    from tnm_desktop.terminal.check import ConnectionCheck
    from tnm_desktop.terminal.simulator.process import SimulatorProcess

log = logging.getLogger(__name__)


async def open_services(profile: ConnectionProfile, *, fast_db: bool = False) -> Services:
    """Build the services of a profile; for a local workspace, start its database first.

    Blocking work (the keyring probe, starting PostgreSQL) runs in worker threads.
    """
    profile = profile.validated()
    if profile.kind is ProfileKind.LOCAL:
        from tnm_desktop.data.local.adapter import LocalAdapter

        workspace = Workspace(Path(profile.workspace_dir))
        keyring = await asyncio.to_thread(keystore.ensure_keyring, workspace.root)
        conns = await asyncio.to_thread(workspace.open, fast=fast_db)
        data: DataPort = LocalAdapter(conns.app, conns.auth, profile.session_key)
        # The workspace's own webhook receiver on its pinned port, so its strategies' URLs answer
        # while the app runs; a taken port is shown on the Strategies page, with the offer to change it.
        from tnm_desktop.composition.local_receiver import LocalReceiver  # aiohttp: loaded when a receiver is wanted

        receiver = await asyncio.to_thread(LocalReceiver, workspace, conns.ingest)
        # Through its hand-over an alert's call may claim the new job for the app's idle agent.
        services = Services(profile, data, workspace, keyring, receiver=receiver,
                            agents=app_agents(workspace, receiver.handover))
        try:
            await asyncio.to_thread(receiver.start)
        except OperationalError as exc:
            log.warning("the webhook receiver did not start: %s", exc.message)
        return services
    from tnm_desktop.data.supabase import SupabaseAdapter  # its client is heavy: loaded when a profile wants it

    keyring = await asyncio.to_thread(keystore.ensure_keyring, config_dir())
    data = SupabaseAdapter(profile.supabase_url, profile.anon_key, profile.session_key)
    return Services(profile, data, None, keyring, agents=app_agents(None))


def app_agents(workspace: Workspace | None, handover: Handover | None = None) -> AppAgents:
    """The agent launcher of the app for a workspace (None: the data folder, for a Supabase profile);
    ``handover`` is shared with the workspace's receiver."""
    if workspace is not None:
        return AppAgents(workspace.root / "ea", workspace.simulator_state, handover)
    return AppAgents(data_dir() / "ea", data_dir() / "simulator" / "state.json")


class AppAgents:
    """Builds this machine's agent for the app, and the simulator process it may trade on.

    Implements :class:`tnm_desktop.services.AgentLauncher`. The agent's code (terminal, simulator,
    EA toolchain, numpy) is imported when an agent starts, not with the window.

    Args:
        workdir: Where the EA toolchain builds.
        simulator_state: The state file of the simulator an agent without a terminal trades on.
        handover: Shared with the receiver of this process (a local workspace's), which may claim
            an alert's job for the agent while it is idle.
    """

    def __init__(self, workdir: Path, simulator_state: Path, handover: Handover | None = None) -> None:
        self._workdir = workdir
        self._simulator_state = simulator_state
        self._handover = handover
        self._simulator: SimulatorProcess | None = None

    def __repr__(self) -> str:
        return f"AppAgents(workdir={str(self._workdir)!r})"

    async def thread(self, agent: Agent, creds: AgentCredentials, data: DataFactory) -> AgentThread:
        """The agent's thread, not started; first the simulator's process when the agent trades on
        it and none serves the state file yet."""
        from tnm_desktop.agent.target import uses_simulator
        from tnm_desktop.composition.agent import agent_thread

        if uses_simulator(agent) and self._simulator is None:
            from tnm_desktop.terminal.simulator.process import ensure_simulator

            self._simulator = await asyncio.to_thread(ensure_simulator, self._simulator_state)
        return agent_thread(data, creds, self._workdir, self._simulator_state, handover=self._handover)

    async def test_terminal(self, terminal_path: str, login: int | None, server: str | None,
                            password: str | None) -> ConnectionCheck:
        """Test the connection to a terminal in a process of its own (the simulator's is started
        first when the path means it and none runs)."""
        from tnm_desktop.agent.target import path_uses_simulator
        from tnm_desktop.composition.mt5_check import test_terminal

        if path_uses_simulator(terminal_path) and self._simulator is None:
            from tnm_desktop.terminal.simulator.process import ensure_simulator

            self._simulator = await asyncio.to_thread(ensure_simulator, self._simulator_state)
        return await test_terminal(terminal_path, login, server, password, self._simulator_state)

    async def close(self) -> None:
        """Stop the simulator started here (it outlives each agent thread, not the services)."""
        simulator, self._simulator = self._simulator, None
        if simulator is not None:
            await asyncio.to_thread(simulator.stop)
