"""Start the headless demo, wait until an alert has been executed, stop it; start it again and
kill it: the smoke test of an installed or frozen TNM Desktop (CI runs it on Windows;
tests/install runs it here).

    python packaging/smoke_demo.py                          # tnm_desktop of this Python
    python packaging/smoke_demo.py dist/tnm-desktop/tnm-desktop.exe

Exit status 0 when the demo started, executed an alert and stopped cleanly, and, killed, left its
database to the guard that stops it (a helper the app starts as ``-m tnm_desktop.pgcluster.guard``,
which a frozen program must run too); otherwise 1 with what went wrong. Stops the demo with
Ctrl+Break on Windows (its process group), SIGTERM elsewhere. This Python must have tnm_desktop
installed (to ask whether the database still runs).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

LIMIT_S = 300


def start(command: list[str], folder: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start the headless demo in ``folder``; the process and the lines it printed once started."""
    flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)  # Windows: Ctrl+Break reaches it alone
    demo = subprocess.Popen([*command, "demo", "--headless", "--dir", str(folder / "demo"), "--port", "0"],  # noqa: S603
                            stdout=subprocess.PIPE, text=True, creationflags=flags)
    info: dict[str, str] = {}
    assert demo.stdout is not None
    deadline = time.monotonic() + LIMIT_S
    while not any(key.startswith("webhook.Gold") for key in info):
        line = demo.stdout.readline()
        if not line or time.monotonic() > deadline:
            print(f"smoke: the demo did not start (exit status {demo.poll()})", file=sys.stderr)
            break
        key, _, value = line.strip().partition("=")
        info[key] = value
    return demo, info


def killed(command: list[str], folder: Path) -> bool:
    """Start the demo again, kill it outright, and wait until its database has been stopped."""
    from tnm_desktop.pgcluster import LocalCluster

    demo, info = start(command, folder)
    demo.kill()
    demo.wait(90)
    if demo.stdout is not None:
        demo.stdout.close()
    if "receiver" not in info:
        return False
    cluster = LocalCluster(folder / "demo" / "db")
    began = time.monotonic()
    while cluster.is_running():
        if time.monotonic() - began > 90:
            print("smoke: killed, the demo left its database running", file=sys.stderr)
            cluster.stop()  # the guard did not: the smoke test leaves nothing behind either
            return False
        time.sleep(0.5)
    print("smoke: killed, the demo's database was stopped by its guard")
    return True


def executes_an_alert(command: list[str], info: dict[str, str]) -> bool:
    """Post an alert to the running demo and wait until the simulator has its deal."""
    deadline = time.monotonic() + LIMIT_S
    body = json.dumps({"id": "smoke-1", "action": "buy", "symbol": "EURUSD", "sl_pips": 20}).encode()
    request = urllib.request.Request(info["webhook.EURUSD trend"], data=body, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 — our own receiver
        print(f"smoke: alert answered {answer.status} {answer.read().decode()}")
    history = [*command, "simulator", "history", "--state", info["simulator"]]
    while time.monotonic() < deadline:
        out = subprocess.run(history, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
        deals = [json.loads(row) for row in out.stdout.splitlines() if '"deal"' in row]
        if any(deal.get("symbol") for deal in deals):
            print(f"smoke: {sum(1 for d in deals if d.get('symbol'))} deals in the simulator's history")
            return True
        time.sleep(1)
    print("smoke: no alert was executed", file=sys.stderr)
    return False


def served(command: list[str], folder: Path) -> bool:
    """Start the demo, see an alert executed, stop the demo as a service manager would."""
    demo, info = start(command, folder)
    try:
        if "receiver" in info:
            print(f"smoke: started, receiver {info['receiver']}")
        executed = "receiver" in info and executes_an_alert(command, info)
    finally:
        demo.send_signal(signal.CTRL_BREAK_EVENT if os.name == "nt" else signal.SIGTERM)  # type: ignore[attr-defined,unused-ignore]
        try:
            status = demo.wait(90)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
            status = -1
        if demo.stdout is not None:
            demo.stdout.close()
    print(f"smoke: the demo stopped with exit status {status}")
    return executed and status == 0


def main(argv: list[str]) -> int:
    command = argv[1:] or [sys.executable, "-m", "tnm_desktop"]
    folder = Path(tempfile.mkdtemp(prefix="tnm-smoke-"))
    if os.name == "posix":
        os.chmod(folder, 0o755)  # noqa: S103 — as root, the database's own user must enter it
    try:
        return 0 if served(command, folder) and killed(command, folder) else 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
