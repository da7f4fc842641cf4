"""Choose the toolchain: the real one where MetaTrader 5 is installed, the simulated one elsewhere.

The GUI and the agent call :func:`make_toolchain` with the agent's terminal settings. The real
toolchain is chosen when the terminal and MetaEditor executables are configured and exist (it
then refuses, saying why, if this is not Windows); otherwise the simulated one, which says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from tnm_desktop.ea.metaeditor import MetaEditor
from tnm_desktop.ea.port import EaToolchain
from tnm_desktop.ea.real import RealToolchain
from tnm_desktop.ea.simulated import SimulatedToolchain
from tnm_desktop.ea.tester import Terminal, find_data_dir

log = logging.getLogger(__name__)
METAEDITOR_NAMES = ("MetaEditor64.exe", "metaeditor64.exe")


@dataclass(frozen=True, slots=True)
class ToolchainConfig:
    """Where the toolchain works and which MetaTrader 5 it drives.

    Attributes:
        workdir: A folder of TNM Desktop's own for builds and run records.
        terminal_path: ``terminal64.exe``, or None when no terminal is configured.
        metaeditor_path: ``MetaEditor64.exe``; None means the one beside the terminal.
        data_dir: The terminal's data folder; None means find it (see :func:`find_data_dir`).
        portable: Start the terminal and MetaEditor with ``/portable``.
        compile_timeout: Seconds a compile may take.
        test_timeout: Seconds a Strategy Tester run may take.
    """

    workdir: Path
    terminal_path: Path | None = None
    metaeditor_path: Path | None = None
    data_dir: Path | None = None
    portable: bool = False
    compile_timeout: float = 120.0
    test_timeout: float = 3600.0


def _metaeditor_beside(terminal: Path) -> Path:
    candidates = [terminal.parent / name for name in METAEDITOR_NAMES]
    return next((path for path in candidates if path.is_file()), candidates[0])


def why_simulated(config: ToolchainConfig) -> str | None:
    """Return why the real toolchain cannot be used with this configuration, or None when it can."""
    if config.terminal_path is None:
        return "no MetaTrader 5 terminal is configured"
    if not config.terminal_path.is_file():
        return f"terminal64.exe was not found at {config.terminal_path}"
    editor = config.metaeditor_path or _metaeditor_beside(config.terminal_path)
    if not editor.is_file():
        return f"MetaEditor was not found at {editor}"
    return None


def make_toolchain(config: ToolchainConfig) -> EaToolchain:
    """Return the real toolchain when its executables exist, else the simulated one."""
    reason = why_simulated(config)
    if reason is not None or config.terminal_path is None:
        log.info("EA toolchain: simulated, because %s", reason)
        return SimulatedToolchain(config.workdir, reason=reason or "")
    terminal_path = config.terminal_path
    data_dir = config.data_dir or find_data_dir(terminal_path.parent, portable=config.portable)
    editor = MetaEditor(config.metaeditor_path or _metaeditor_beside(terminal_path),
                        mql5_dir=data_dir / "MQL5" if data_dir else None, portable=config.portable,
                        timeout=config.compile_timeout)
    terminal = Terminal(terminal_path, data_dir, portable=config.portable, test_timeout=config.test_timeout)
    log.info("EA toolchain: MetaTrader 5 at %s, data folder %s", terminal_path.parent, data_dir)
    return RealToolchain(editor, terminal, config.workdir)
