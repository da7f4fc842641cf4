"""The test command: ``python -m tests`` runs ruff, mypy, lint-imports (the layering contracts in
pyproject.toml) and pytest, and fails if any fails.

Extra arguments go to pytest, e.g. ``python -m tests -k claim``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# ``lint-imports`` through this interpreter (its script may not be on PATH); no cache files left behind.
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def main() -> int:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    steps = [
        ("ruff", [sys.executable, "-m", "ruff", "check", "."]),
        ("mypy", [sys.executable, "-m", "mypy"]),
        ("lint-imports", [sys.executable, "-c", LINT_IMPORTS, "--no-cache"]),
        ("pytest", [sys.executable, "-m", "pytest", *sys.argv[1:]]),
    ]
    failed = []
    for name, cmd in steps:
        shown = "--no-cache" if name == "lint-imports" else " ".join(cmd[2:])
        print(f"== {name}: {shown}", flush=True)
        if subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"== FAILED: {', '.join(failed)}", flush=True)
        return 1
    print("== all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
