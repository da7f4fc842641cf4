"""Nothing the app starts outlives it: the windowed demo stopped by SIGTERM or killed by SIGKILL, the
headless demo killed, and an agent pointed at a folder that is not a workspace.

Real processes throughout: ``tnm-desktop --demo`` offscreen with its own folders, and a scan of
/proc for anything still running under those folders (see :mod:`tests.procs`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from tnm_desktop import runlog
from tnm_desktop.errors import OperationalError
from tnm_desktop.pgcluster import LocalCluster

from tests.conftest import reachable_tmpdir
from tests.procs import kill_all_under, processes_under, wait_until_none_under

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find the processes")

STARTED_WITHIN_S = 240  # the first start creates a database; a loaded machine takes its time


@pytest.fixture
def root() -> Iterator[Path]:
    """A folder for one app's config, data, log and demo; whatever still runs there is killed."""
    folder = reachable_tmpdir("tnm-owned-")
    try:
        yield folder
    finally:
        kill_all_under(folder)
        shutil.rmtree(folder, ignore_errors=True)


def app_env(root: Path) -> dict[str, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TNM_DEMO_DIR=str(root / "demo"),
               TNM_CONFIG_DIR=str(root / "config"), TNM_DATA_DIR=str(root / "data"), TNM_LOG_DIR=str(root / "log"),
               # No OS keyring: the demo's key goes to a file in its folder, not to this machine's keyring.
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.pop("TNM_OWNER_PID", None)
    return env


def start_gui_demo(root: Path) -> subprocess.Popen[bytes]:
    """``tnm-desktop --demo``, returned once its agent runs (its heartbeat says so)."""
    since = datetime.now(UTC)
    app = subprocess.Popen([sys.executable, "-m", "tnm_desktop", "--demo"], env=app_env(root),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + STARTED_WITHIN_S
    while not agent_running_since(root / "demo", since):
        assert app.poll() is None, f"the app exited with {app.returncode}; see {root / 'log'}"
        assert time.monotonic() < deadline, "the demo did not come up"
        time.sleep(0.5)
    return app


def agent_running_since(workspace: Path, since: datetime) -> bool:
    settings = workspace / "workspace.json"
    if not settings.is_file() or not (agent_id := json.loads(settings.read_text() or "{}").get("agent_id")):
        return False
    try:
        with psycopg.connect(LocalCluster(workspace / "db").conninfo(), connect_timeout=5) as conn:
            row = conn.execute("select status = 'running' and last_heartbeat_at > %s from mt5_agents where id = %s",
                               (since, agent_id)).fetchone()
    except (psycopg.Error, OperationalError):
        return False  # not up yet
    return bool(row and row[0])


def describe(left: list[object]) -> str:
    return "still running: " + "; ".join(str(p) for p in left)


def test_sigterm_to_the_windowed_demo_stops_everything_it_started(root: Path) -> None:
    app = start_gui_demo(root)
    commands = " | ".join(p.command for p in processes_under(root))
    assert "bin/postgres" in commands and "simulator serve" in commands and "pgcluster.guard" in commands, commands
    app.send_signal(signal.SIGTERM)
    assert app.wait(10) == 0  # quit as closing the window does
    assert not (left := wait_until_none_under(root, within=10)), describe(left)  # type: ignore[arg-type]
    ((log_file,),) = runlog.run_files(root / "log").values()  # the run's own log file
    log = log_file.read_text(encoding="utf-8")
    assert "quitting" in log and "TNM Desktop stopped" in log


def test_the_windowed_demo_hands_its_first_trades_to_its_own_agent(root: Path) -> None:
    # The app's receiver and agent share the process: a trade that arrives while the agent is idle
    # is claimed by the alert's own call and handed over in memory (domain.handover), which the
    # receiver's line in the log says. The first alerts are posted once the agent runs.
    app = start_gui_demo(root)
    try:
        deadline = time.monotonic() + 120
        while True:
            ((log_file,),) = runlog.run_files(root / "log").values()
            if "handed to the agent" in log_file.read_text(encoding="utf-8"):
                break
            assert app.poll() is None, f"the app exited with {app.returncode}"
            assert time.monotonic() < deadline, "no trade was handed to the agent"
            time.sleep(0.5)
    finally:
        app.send_signal(signal.SIGTERM)
        assert app.wait(30) == 0


def test_sigkill_of_the_windowed_demo_leaves_nothing_running(root: Path) -> None:
    app = start_gui_demo(root)
    commands = " | ".join(p.command for p in processes_under(root))
    assert "bin/postgres" in commands and "simulator serve" in commands and "pgcluster.guard" in commands, commands
    app.kill()
    app.wait(10)
    assert not (left := wait_until_none_under(root, within=30)), describe(left)  # type: ignore[arg-type]


def test_sigkill_of_the_headless_demo_takes_its_agent_simulator_and_database_along(root: Path) -> None:
    demo = subprocess.Popen([sys.executable, "-m", "tnm_desktop", "demo", "--headless", "--dir", str(root / "ws"),
                             "--port", "0"], env=app_env(root), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    assert demo.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + STARTED_WITHIN_S
    while not any(line.startswith("webhook.Gold") for line in lines):
        assert time.monotonic() < deadline, "the demo did not start"
        line = demo.stdout.readline()
        assert line, f"the demo exited with {demo.wait()}"
        lines.append(line)
    agent_pid = int(next(line for line in lines if line.startswith("agent_pid=")).split("=")[1])
    assert any(p.pid == agent_pid for p in processes_under(root))
    demo.kill()
    demo.wait(10)
    demo.stdout.close()
    assert not (left := wait_until_none_under(root, within=30)), describe(left)  # type: ignore[arg-type]


def tnm(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tnm_desktop", *args], capture_output=True, text=True,
                          timeout=120, check=False, env=env)


def test_an_agent_for_a_missing_folder_says_so_in_one_line_and_creates_nothing(root: Path) -> None:
    missing = root / "no-such-workspace"
    result = tnm("agent", "--dir", str(missing), env=app_env(root))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"tnm-desktop: There is no workspace in {missing}")
    assert not missing.exists()
    assert sorted(p.name for p in root.iterdir()) == []
