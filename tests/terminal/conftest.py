"""Fixtures for the terminal tests: simulators in-process and as a process of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tnm_desktop.terminal.simulator.client import RemoteMt5
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
