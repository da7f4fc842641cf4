"""Fixtures for the terminal tests: simulators in-process and as a process of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tnm_desktop.terminal.mt5_adapter import Mt5Terminal
from tnm_desktop.terminal.simulator.api import SimulatedMt5
from tnm_desktop.terminal.simulator.client import RemoteMt5
from tnm_desktop.terminal.simulator.control import SimulatorControl
from tnm_desktop.terminal.simulator.engine import wall_ms
from tnm_desktop.terminal.simulator.model import new_state
from tnm_desktop.terminal.simulator.process import SimulatorProcess, start_simulator


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    """A state file path for one test (not created yet)."""
    return tmp_path / "simulator" / "state.json"


@pytest.fixture
def served(state_file: Path) -> Iterator[SimulatorProcess]:
    """A ``tnm-desktop simulator serve`` process on a fresh state file, with a frozen clock."""
    process = start_simulator(state_file, manual_clock=True, seed=7)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def remote(state_file: Path) -> Iterator[Callable[[], RemoteMt5]]:
    """Make clients of the simulator serving ``state_file``; all are closed after the test."""
    clients: list[RemoteMt5] = []

    def connect() -> RemoteMt5:
        clients.append(RemoteMt5(state_file))
        return clients[-1]

    try:
        yield connect
    finally:
        for client in clients:
            client.close()


def clock_of(control: SimulatorControl) -> Callable[[], datetime]:
    """Return the simulator's clock as a function giving aware UTC times."""
    return lambda: datetime.fromtimestamp(control.now_ms() / 1000, UTC)


@dataclass(frozen=True)
class Rig:
    """The real adapter over a simulator, and the simulator's control API."""

    terminal: Mt5Terminal
    control: SimulatorControl

    def now(self) -> datetime:
        """Return the simulator's time as an aware UTC datetime."""
        return clock_of(self.control)()


@pytest.fixture(params=["in-process", "remote"])
def rig(request: pytest.FixtureRequest, state_file: Path) -> Iterator[Rig]:
    """The adapter over the in-process simulator, then over a ``simulator serve`` process.

    Both simulators have a frozen clock that moves only when a test advances it; the adapter
    reads that clock, as it reads the wall clock beside a real terminal.
    """
    if request.param == "in-process":
        sim = SimulatedMt5(state=new_state(now_ms=wall_ms(), manual_clock=True, seed=7))
        yield Rig(Mt5Terminal(sim, clock=clock_of(sim.control)), sim.control)
        return
    process = start_simulator(state_file, manual_clock=True, seed=7)
    try:
        with RemoteMt5(state_file) as client:
            yield Rig(Mt5Terminal(client, clock=clock_of(client.control)), client.control)
    finally:
        process.stop()
