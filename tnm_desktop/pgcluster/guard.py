"""A guard that stops a workspace's PostgreSQL when the process that started it is gone.

``pg_ctl start`` leaves the server running on its own, so nothing would stop it if the app were
killed. The app starts this guard (``python -m tnm_desktop.pgcluster.guard DIR``) beside every
server it starts; the guard waits for the app to end. If the app stopped the server itself, it
stops the guard too (SIGTERM, which the guard obeys at once); if the app died first, the guard
stops the server (``pg_ctl stop -m fast``) and exits.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tnm_desktop import lifeline

log = logging.getLogger(__name__)


def start_guard(db_root: Path) -> subprocess.Popen[bytes]:
    """Start the guard of the cluster in ``db_root``, owned by this process."""
    return lifeline.popen([sys.executable, "-m", "tnm_desktop.pgcluster.guard", str(db_root)],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          start_new_session=True,  # a Ctrl-C meant for the app is not for the guard
                          in_job=False)  # it must outlive the app long enough to stop the server


def stop_guard(guard: subprocess.Popen[bytes]) -> None:
    """Dismiss a guard (its owner has stopped the server itself)."""
    if guard.poll() is None:
        guard.terminate()
        try:
            guard.wait(10)
        except subprocess.TimeoutExpired:
            guard.kill()
            guard.wait()


def main(argv: list[str]) -> int:
    """Wait for the owner to end, then stop the cluster in ``argv[0]``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s guard: %(message)s")
    db_root = Path(argv[0])
    owner_gone = threading.Event()
    dismissed = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: dismissed.set())
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not lifeline.watch_owner(owner_gone.set):
        return 2
    while not (owner_gone.wait(1.0) or dismissed.is_set()):  # a timeout keeps signals deliverable
        pass
    if dismissed.is_set():
        return 0
    from tnm_desktop.pgcluster.cluster import LocalCluster

    cluster = LocalCluster(db_root)
    if cluster.is_running():
        log.warning("the app that started the database in %s is gone: stopping it", db_root)
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
