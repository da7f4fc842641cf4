"""Start the headless demo, wait until an alert has been executed, stop it: the smoke test of an
installed or frozen TNM Desktop (CI runs it on Windows; tests/install runs it here).

    python packaging/smoke_demo.py                          # tnm_desktop of this Python
    python packaging/smoke_demo.py dist/tnm-desktop/tnm-desktop.exe

Exit status 0 when the demo started, executed an alert and stopped cleanly; otherwise 1 with what
went wrong. Stops the demo with Ctrl+Break on Windows (its process group), SIGTERM elsewhere.
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


def main(argv: list[str]) -> int:
    command = argv[1:] or [sys.executable, "-m", "tnm_desktop"]
    folder = Path(tempfile.mkdtemp(prefix="tnm-smoke-"))
    if os.name == "posix":
        os.chmod(folder, 0o755)  # noqa: S103 — as root, the database's own user must enter it
    flags = subprocess.CREATE_NEW_PROCESS_GROUP if os.name == "nt" else 0
    demo = subprocess.Popen([*command, "demo", "--headless", "--dir", str(folder / "demo"), "--port", "0"],  # noqa: S603
                            stdout=subprocess.PIPE, text=True, creationflags=flags)
    info: dict[str, str] = {}
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + LIMIT_S
        while not any(key.startswith("webhook.Gold") for key in info):
            line = demo.stdout.readline()
            if not line or time.monotonic() > deadline:
                print(f"smoke: the demo did not start (exit status {demo.poll()})", file=sys.stderr)
                return 1
            key, _, value = line.strip().partition("=")
            info[key] = value
        print(f"smoke: started, receiver {info['receiver']}")
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
                break
            time.sleep(1)
        else:
            print("smoke: no alert was executed", file=sys.stderr)
            return 1
    finally:
        demo.send_signal(signal.CTRL_BREAK_EVENT if os.name == "nt" else signal.SIGTERM)  # type: ignore[attr-defined,unused-ignore]
        try:
            status = demo.wait(90)
        except subprocess.TimeoutExpired:
            demo.kill()
            status = -1
        shutil.rmtree(folder, ignore_errors=True)
    print(f"smoke: the demo stopped with exit status {status}")
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
