"""The connection pools' own warnings: once per outage, not once per reconnection attempt.

psycopg's pool logs a warning for every failed attempt to connect; while a database is down for a
minute, three pools (the app's, the agent's, the receiver's) fill the log with them. The first of
each kind per pool goes through; the same one again within a minute is dropped.
"""

from __future__ import annotations

import logging
import threading
import time

_QUIET_FOR_S = 60.0
_REPEATING = ("error connecting in ", "reconnection attempt in pool ", "discarding broken connection",
              "discarding closed connection")


class _OncePerOutage(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if not text.startswith(_REPEATING):
            return True
        pool = str(record.args[0]) if isinstance(record.args, tuple) and record.args and "pool" in text else ""
        key, now = (text, pool), time.monotonic()
        with self._lock:
            if now - self._last.get(key, -_QUIET_FOR_S) < _QUIET_FOR_S:
                return False
            self._last[key] = now
        return True


_installed = False
_install_lock = threading.Lock()


def quiet_pool_warnings() -> None:
    """Install the filter on psycopg's pool logger (once per process)."""
    global _installed
    with _install_lock:
        if not _installed:
            logging.getLogger("psycopg.pool").addFilter(_OncePerOutage())
            _installed = True
