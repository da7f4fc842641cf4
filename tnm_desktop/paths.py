"""Where the project's SQL and resources live, installed or in a checkout."""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    # A checkout or an editable install keeps sql/ and resources/ beside the package;
    # a wheel installs them as data files under <prefix>/share/tnm-desktop/.
    for candidate in (_PACKAGE.parent / name, Path(sys.prefix) / "share" / "tnm-desktop" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ directory of TNM Desktop")


def sql_dir() -> Path:
    """Return the directory holding supabase_compat.sql, migrations/ and rollback/."""
    return _find("sql")


def resources_dir() -> Path:
    """Return the directory holding templates, icons and other resources."""
    return _find("resources")
