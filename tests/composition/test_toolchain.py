"""Choosing the toolchain, and keeping the package free of Qt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tnm_desktop.composition.toolchain import ToolchainConfig, make_toolchain, why_simulated
from tnm_desktop.ea import ToolchainKind
from tnm_desktop.ea.real import RealToolchain
from tnm_desktop.ea.simulated import SimulatedToolchain


def install(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "MetaTrader 5"
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"MZ")
    return folder / "terminal64.exe"


def test_no_terminal_configured_means_simulated(tmp_path: Path) -> None:
    toolchain = make_toolchain(ToolchainConfig(workdir=tmp_path))
    assert isinstance(toolchain, SimulatedToolchain)
    assert toolchain.kind is ToolchainKind.SIMULATED
    assert toolchain.description.endswith("(no MetaTrader 5 terminal is configured)")


def test_a_configured_terminal_that_is_not_there_means_simulated_and_says_where(tmp_path: Path) -> None:
    config = ToolchainConfig(workdir=tmp_path, terminal_path=tmp_path / "MetaTrader 5" / "terminal64.exe")
    assert why_simulated(config) == f"terminal64.exe was not found at {config.terminal_path}"
    assert isinstance(make_toolchain(config), SimulatedToolchain)


def test_a_terminal_without_metaeditor_beside_it_means_simulated(tmp_path: Path) -> None:
    terminal = install(tmp_path, "terminal64.exe")
    reason = why_simulated(ToolchainConfig(workdir=tmp_path, terminal_path=terminal))
    assert reason == f"MetaEditor was not found at {terminal.parent / 'MetaEditor64.exe'}"


def test_both_executables_mean_the_real_toolchain_with_its_data_folder(tmp_path: Path) -> None:
    terminal = install(tmp_path, "terminal64.exe", "metaeditor64.exe")
    (terminal.parent / "MQL5").mkdir()  # a terminal that has been started with /portable
    toolchain = make_toolchain(ToolchainConfig(workdir=tmp_path / "work", terminal_path=terminal, portable=True))
    assert isinstance(toolchain, RealToolchain)
    assert toolchain.kind is ToolchainKind.REAL
    assert toolchain.editor.executable == terminal.parent / "metaeditor64.exe"
    assert toolchain.editor.mql5_dir == terminal.parent / "MQL5"
    assert toolchain.terminal.data_dir == terminal.parent
    assert toolchain.description == f"MetaTrader 5 at {terminal.parent} (MetaEditor and the Strategy Tester)"


def test_an_explicit_data_folder_and_metaeditor_are_used_as_given(tmp_path: Path) -> None:
    terminal = install(tmp_path, "terminal64.exe")
    editor = tmp_path / "Editor" / "MetaEditor64.exe"
    editor.parent.mkdir()
    editor.write_bytes(b"MZ")
    data = tmp_path / "Data"
    toolchain = make_toolchain(ToolchainConfig(workdir=tmp_path, terminal_path=terminal, metaeditor_path=editor,
                                               data_dir=data, compile_timeout=5, test_timeout=60))
    assert isinstance(toolchain, RealToolchain)
    assert (toolchain.editor.executable, toolchain.editor.mql5_dir, toolchain.editor.timeout) == (editor, data / "MQL5", 5)
    assert (toolchain.terminal.data_dir, toolchain.terminal.test_timeout) == (data, 60)


def test_the_toolchain_imports_no_qt() -> None:
    probe = "import sys, tnm_desktop.ea; print(sorted(m for m in sys.modules if m.startswith(('PySide', 'PyQt'))))"
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
