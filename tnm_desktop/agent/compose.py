"""Building an agent from what is stored about it: its row, its key, its workspace.

Where the agent trades is stored in ``mt5_agents.terminal_path``: ``simulator:`` for the
simulator, ``mt5linux://host:port`` for an mt5linux server on this machine, anything else the
path of ``terminal64.exe`` (empty: the terminal the MetaTrader5 package finds itself). The MT5
password is in the keyring under :func:`~tnm_desktop.agent.pairing.password_name`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from tnm_desktop import keystore
from tnm_desktop.agent.events import AgentEvent
from tnm_desktop.agent.pairing import password_name
from tnm_desktop.agent.runner import TerminalRunner
from tnm_desktop.agent.thread import RunnerFactory
from tnm_desktop.data.port import DataPort
from tnm_desktop.domain import Agent, AgentCredentials
from tnm_desktop.ea.factory import ToolchainConfig, make_toolchain
from tnm_desktop.errors import UserError
from tnm_desktop.terminal.factory import TerminalConfig, TerminalKind, open_terminal
from tnm_desktop.terminal.port import ConnectSettings

SIMULATOR_PATH = "simulator:"
MT5LINUX_SCHEME = "mt5linux://"
MT5LINUX_DEFAULT = "127.0.0.1:18812"


class TargetKind(StrEnum):
    """What an agent trades through."""

    SIMULATOR = "simulator"
    MT5 = "mt5"
    MT5LINUX = "mt5linux"


@dataclass(frozen=True, slots=True)
class TerminalTarget:
    """The terminal an agent drives, as stored in ``mt5_agents.terminal_path``."""

    kind: TargetKind
    location: str = ""  # terminal64.exe, or host:port for mt5linux

    @classmethod
    def parse(cls, terminal_path: str) -> TerminalTarget:
        """Read an agent row's ``terminal_path``."""
        value = terminal_path.strip()
        if value == SIMULATOR_PATH:
            return cls(TargetKind.SIMULATOR)
        if value.startswith(MT5LINUX_SCHEME):
            return cls(TargetKind.MT5LINUX, value.removeprefix(MT5LINUX_SCHEME))
        return cls(TargetKind.MT5, value)

    def to_path(self) -> str:
        """What to store in ``terminal_path``."""
        if self.kind is TargetKind.SIMULATOR:
            return SIMULATOR_PATH
        if self.kind is TargetKind.MT5LINUX:
            return MT5LINUX_SCHEME + (self.location or MT5LINUX_DEFAULT)
        return self.location


def uses_simulator(agent: Agent) -> bool:
    """Whether the agent trades on the simulator: set so, or set to nothing off Windows (there is
    no MetaTrader 5 to find there)."""
    target = TerminalTarget.parse(agent.terminal_path)
    return target.kind is TargetKind.SIMULATOR or (not target.location and target.kind is TargetKind.MT5
                                                   and sys.platform != "win32")


def terminal_config(agent: Agent, password: str | None, simulator_state: Path | None) -> TerminalConfig:
    """How to reach an agent's terminal.

    An agent with no terminal set trades on the workspace's simulator off Windows (there is no
    MetaTrader 5 to find there) and on the MetaTrader 5 the package finds on Windows.
    """
    target = TerminalTarget.parse(agent.terminal_path)
    settings = ConnectSettings(path=target.location or None if target.kind is TargetKind.MT5 else None,
                               login=agent.mt5_login, password=password, server=agent.mt5_server)
    if uses_simulator(agent):
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


def runner_factory(workdir: Path, simulator_state: Path | None = None, **options: object) -> RunnerFactory:
    """A factory of job runners for :class:`~tnm_desktop.agent.thread.AgentThread`.

    It reads the agent's row and its MT5 password (keyring) on the agent's own loop, so a
    terminal setting changed in the Agent view takes effect at the next start.
    """

    async def make(data: DataPort, creds: AgentCredentials, emit: Callable[[AgentEvent], None]) -> TerminalRunner:
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
