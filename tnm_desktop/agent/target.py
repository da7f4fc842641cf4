"""Where an agent trades, as stored in ``mt5_agents.terminal_path``.

``simulator:`` for the simulator, ``mt5linux://host:port`` for an mt5linux server on this
machine, anything else the path of ``terminal64.exe`` (empty: the terminal the MetaTrader5
package finds itself). The Agent page writes it; the composition root reads it to build the
agent's terminal adapter.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum

from tnm_desktop.domain import Agent

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
