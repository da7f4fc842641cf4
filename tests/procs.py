"""Which processes belong to a test's folder, and making sure none is left behind.

A process belongs to a folder when its command line names a path inside it (the simulator's
``--state``, the agent's ``--dir``, the database guard's directory, ``postgres -D``) or it runs
inside it (every PostgreSQL process works in its data directory). Linux only: it reads /proc.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Proc:
    """A process found under a folder."""

    pid: int
    command: str
    cwd: str


def processes_under(root: Path) -> list[Proc]:
    """Every live process whose command line or working directory is inside ``root``."""
    where = str(root.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if state == "Z":
            continue  # a zombie has ended; only its parent's wait is missing
        if where in command or cwd == where or cwd.startswith(where + os.sep):
            found.append(Proc(int(entry.name), command, cwd))
    return found


def wait_until_none_under(root: Path, within: float) -> list[Proc]:
    """Wait until no process is left under ``root``; return those still there after ``within`` s."""
    deadline = time.monotonic() + within
    while (left := processes_under(root)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def kill_all_under(root: Path) -> None:
    """Clean up after a failed test: SIGKILL whatever still runs under ``root``."""
    for proc in processes_under(root):
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGKILL)
