"""The test command: ``python -m tests`` runs ruff, mypy and pytest, and fails if any fails.

Extra arguments go to pytest, e.g. ``python -m tests -k claim``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    steps = [
        ("ruff", [sys.executable, "-m", "ruff", "check", "."]),
        ("mypy", [sys.executable, "-m", "mypy"]),
        ("pytest", [sys.executable, "-m", "pytest", *sys.argv[1:]]),
    ]
    failed = []
    for name, cmd in steps:
        print(f"== {name}: {' '.join(cmd[2:])}", flush=True)
        if subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"== FAILED: {', '.join(failed)}", flush=True)
        return 1
    print("== all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
