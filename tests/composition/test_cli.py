"""The command line stays cheap: parsing loads no mode, and ``db`` commands never load Qt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("PySide6", "shiboken6", "qasync", "aiohttp", "numpy", "supabase", "tnm_desktop.gui")


def loaded_after(code: str, cwd: Path) -> list[str]:
    probe = (f"import sys, json\n{code}\n"
             f"print(json.dumps(sorted({{m for m in sys.modules if m.startswith({HEAVY!r})}})))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, check=True,
                         timeout=120)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_building_the_parser_loads_no_mode(tmp_path: Path) -> None:
    assert loaded_after("from tnm_desktop.cli import build_parser; build_parser()", tmp_path) == []


def test_db_status_never_loads_qt(tmp_path: Path) -> None:
    code = f"from tnm_desktop.cli import main; assert main(['db', 'status', '--dir', {str(tmp_path / 'db')!r}]) == 0"
    assert loaded_after(code, tmp_path) == []
