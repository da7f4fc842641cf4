"""Where MetaTrader 5 is installed on this (Windows) machine.

Two places tell: every terminal that has run keeps a data folder under
``%APPDATA%\\MetaQuotes\\Terminal\\<id>\\`` whose ``origin.txt`` names its installation folder (the
terminals a trader actually uses, most recently used first); and brokers install their builds
under ``%ProgramFiles%\\<Broker> MetaTrader 5\\``. Elsewhere (no such variables) nothing is found.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

EXE = "terminal64.exe"


def _origin(data_folder: Path) -> Path | None:
    try:
        raw = (data_folder / "origin.txt").read_bytes()
    except OSError:
        return None
    # The terminal writes it as UTF-16 with a byte-order mark; tolerate plain text too.
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8", "replace")
    folder = text.strip().strip("\x00")
    return Path(folder) if folder else None


def find_terminals(env: Mapping[str, str] | None = None) -> list[Path]:
    """``terminal64.exe`` of each MetaTrader 5 found, the most recently used first.

    Args:
        env: The environment to read ``APPDATA``, ``ProgramFiles`` and ``ProgramW6432`` from
            (default: this process's).
    """
    env = os.environ if env is None else env
    found: list[Path] = []
    appdata = env.get("APPDATA")
    if appdata:
        folders = [p for p in (Path(appdata) / "MetaQuotes" / "Terminal").glob("*") if p.is_dir()]
        folders.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for folder in folders:
            origin = _origin(folder)
            if origin is not None:
                found.append(origin / EXE)
    for variable in ("ProgramW6432", "ProgramFiles"):
        root = env.get(variable)
        if root:
            found.extend(sorted(Path(root).glob(f"*/{EXE}")))
    unique: dict[str, Path] = {}
    for exe in found:
        if exe.is_file():
            unique.setdefault(os.path.normcase(str(exe)), exe)
    return list(unique.values())
