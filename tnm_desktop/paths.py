"""Where the project's SQL and resources live, installed or in a checkout."""

from __future__ import annotations

import site
import sys
import sysconfig
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    # A checkout, an editable install and the PyInstaller app keep sql/ and resources/ beside the
    # package; a wheel installs them as data files under <prefix>/share/tnm-desktop/, the prefix
    # being the environment's (a venv, pipx, uv tool), the install scheme's, or the user's (--user).
    prefixes = [sys.prefix, sysconfig.get_path("data"), site.getuserbase()]
    candidates = [_PACKAGE.parent / name, *(Path(p) / "share" / "tnm-desktop" / name for p in prefixes)]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ directory of TNM Desktop")


def sql_dir() -> Path:
    """Return the directory holding supabase_compat.sql, migrations/ and rollback/."""
    return _find("sql")


def resources_dir() -> Path:
    """Return the directory holding templates, icons and other resources."""
    return _find("resources")
