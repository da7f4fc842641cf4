"""Building an agent from what is stored about it: its row, its key, its workspace.

Where the agent trades is its row's ``terminal_path`` (:mod:`tnm_desktop.agent.target`); the MT5
password is in the keyring under :func:`~tnm_desktop.agent.pairing.password_name`. The agent runs
on a thread of its own with a selector event loop (:func:`tnm_desktop.loops.selector_loop`), so
psycopg runs on it directly, on Windows too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tnm_desktop import keystore
from tnm_desktop.agent.events import AgentEvent
from tnm_desktop.agent.pairing import password_name
from tnm_desktop.agent.runner import TerminalRunner
from tnm_desktop.agent.target import MT5LINUX_DEFAULT, TargetKind, TerminalTarget, path_uses_simulator
from tnm_desktop.agent.thread import AgentThread, DataFactory, RunnerFactory
from tnm_desktop.agent.worker import AgentSettings
from tnm_desktop.composition.terminal import TerminalConfig, TerminalKind, open_terminal
from tnm_desktop.composition.toolchain import ToolchainConfig, make_toolchain
from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import Agent, AgentCredentials
from tnm_desktop.domain.handover import Handover
from tnm_desktop.errors import UserError
from tnm_desktop.loops import selector_loop
from tnm_desktop.terminal.port import ConnectSettings


def terminal_config(agent: Agent, password: str | None, simulator_state: Path | None) -> TerminalConfig:
    """How to reach an agent's terminal.

    An agent with no terminal set trades on the workspace's simulator off Windows (there is no
    MetaTrader 5 to find there) and on the MetaTrader 5 the package finds on Windows.
    """
    return target_config(agent.terminal_path, agent.mt5_login, agent.mt5_server, password, simulator_state)


def target_config(terminal_path: str, login: int | None, server: str | None, password: str | None,
                  simulator_state: Path | None) -> TerminalConfig:
    """How to reach the terminal a ``terminal_path`` names (:func:`terminal_config`'s rule)."""
    target = TerminalTarget.parse(terminal_path)
    settings = ConnectSettings(path=target.location or None if target.kind is TargetKind.MT5 else None,
                               login=login, password=password, server=server)
    if path_uses_simulator(terminal_path):
        if simulator_state is not None:
            return TerminalConfig(kind=TerminalKind.REMOTE_SIMULATOR, state_file=simulator_state)
        return TerminalConfig(kind=TerminalKind.SIMULATOR)
    if target.kind is TargetKind.MT5LINUX:
        host, _, port = (target.location or MT5LINUX_DEFAULT).rpartition(":")
        if not port.isdigit():
            raise UserError(f"The mt5linux address {target.location!r} is not host:port.", code="address")
        return TerminalConfig(kind=TerminalKind.MT5LINUX, settings=settings, mt5linux_host=host,
                              mt5linux_port=int(port))
    return TerminalConfig(kind=TerminalKind.METATRADER5, settings=settings)


def runner_factory(workdir: Path, simulator_state: Path | None = None, **options: Any) -> RunnerFactory:
    """A factory of job runners for :class:`~tnm_desktop.agent.thread.AgentThread`.

    It reads the agent's row and its MT5 password (keyring) on the agent's own loop, so a
    terminal setting changed in the Agent view takes effect at the next start.
    """

    async def make(data: AgentPort, creds: AgentCredentials, emit: Callable[[AgentEvent], None]) -> TerminalRunner:
        agent = await data.get_agent(creds.agent_id)
        if agent is None:
            raise UserError("This agent no longer exists; pair this machine again.", code="agent_missing")
        password = await asyncio.to_thread(keystore.get_secret, password_name(agent.id))
        config = terminal_config(agent, password, simulator_state)
        terminal = await asyncio.to_thread(open_terminal, config)
        real = config.kind is TerminalKind.METATRADER5 and bool(agent.terminal_path)
        tools = ToolchainConfig(workdir=workdir, terminal_path=Path(agent.terminal_path) if real else None)
        toolchain = await asyncio.to_thread(make_toolchain, tools)
        return TerminalRunner(data, creds, terminal, toolchain=toolchain, connect=config.settings, emit=emit,
                              ea_state=workdir, **options)

    return make


def agent_thread(data: DataFactory, creds: AgentCredentials, workdir: Path,
                 simulator_state: Path | None = None, settings: AgentSettings | None = None,
                 handover: Handover | None = None) -> AgentThread:
    """The agent on a thread of its own (not started), as the app and ``tnm-desktop agent`` run it.

    Args:
        data: Builds the agent's data adapter on its loop.
        creds: The agent's id and pairing key.
        workdir: Where the EA toolchain builds.
        simulator_state: The simulator process's state file, for an agent that trades on it.
        settings: Its heartbeat and lease periods (None: the defaults).
        handover: Shared with the receiver of the same process (the app's local workspace).
    """
    return AgentThread(data, creds, runner_factory(workdir, simulator_state), settings, loop_factory=selector_loop,
                       handover=handover)

