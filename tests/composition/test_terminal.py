"""Choosing the adapter, and keeping the terminal package free of Qt, asyncio and MetaTrader5."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from tnm_desktop.composition.terminal import TerminalConfig, TerminalKind, load_api, open_terminal, resolve_kind
from tnm_desktop.errors import OperationalError, UserError
from tnm_desktop.terminal.simulator.api import SimulatedMt5
from tnm_desktop.terminal.simulator.client import RemoteMt5
from tnm_desktop.terminal.simulator.process import SimulatorProcess

from tests.terminal.conftest import clock_of

REPO = Path(__file__).resolve().parents[2]


def test_auto_picks_metatrader5_on_windows_and_a_simulator_elsewhere(state_file: Path) -> None:
    expected = TerminalKind.METATRADER5 if sys.platform == "win32" else TerminalKind.SIMULATOR
    assert resolve_kind(TerminalConfig()) is expected
    with_file = TerminalKind.METATRADER5 if sys.platform == "win32" else TerminalKind.REMOTE_SIMULATOR
    assert resolve_kind(TerminalConfig(state_file=state_file)) is with_file
    assert resolve_kind(TerminalConfig(kind=TerminalKind.SIMULATOR, state_file=state_file)) is TerminalKind.SIMULATOR


def test_the_in_process_simulator_through_the_factory() -> None:
    api = load_api(TerminalConfig(kind=TerminalKind.SIMULATOR))
    assert isinstance(api, SimulatedMt5)
    terminal = open_terminal(TerminalConfig(kind=TerminalKind.SIMULATOR))
    status = terminal.connect()
    assert (status.connected, status.login) == (True, 51234567)


def test_the_remote_simulator_through_the_factory(served: SimulatorProcess, state_file: Path) -> None:
    with pytest.raises(UserError, match="state file"):
        load_api(TerminalConfig(kind=TerminalKind.REMOTE_SIMULATOR))
    config = TerminalConfig(kind=TerminalKind.REMOTE_SIMULATOR, state_file=state_file)
    assert isinstance(load_api(config), RemoteMt5)
    with RemoteMt5(state_file) as controller:
        terminal = open_terminal(config, clock=clock_of(controller.control))  # the served clock is frozen
        try:
            assert terminal.connect().server == "TNM-Simulator"
            assert terminal.quote("EURUSD.m").bid > 0
        finally:
            terminal.shutdown()


def test_metatrader5_is_imported_only_when_asked_and_installed() -> None:
    if importlib.util.find_spec("MetaTrader5") is not None:  # a Windows machine with the package
        assert getattr(load_api(TerminalConfig(kind=TerminalKind.METATRADER5)), "__name__", "") == "MetaTrader5"
        return
    with pytest.raises(OperationalError, match="Windows only"):
        load_api(TerminalConfig(kind=TerminalKind.METATRADER5))


@pytest.mark.parametrize("host", ["192.0.2.10", "10.0.0.5", "0.0.0.0"])
def test_mt5linux_is_refused_beyond_loopback(host: str) -> None:
    with pytest.raises(UserError, match="runs any code"):
        load_api(TerminalConfig(kind=TerminalKind.MT5LINUX, mt5linux_host=host))


def test_the_terminal_package_imports_no_qt_asyncio_or_metatrader5() -> None:
    probe = (
        "import sys, json\n"
        "import tnm_desktop.composition.terminal, tnm_desktop.terminal.simulator.server\n"
        "import tnm_desktop.terminal.simulator.cli, tnm_desktop.terminal.simulator.process\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'asyncio', 'MetaTrader5', 'mt5linux', 'qasync'))))\n")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True,
                         timeout=60)
    assert json.loads(out.stdout) == []
