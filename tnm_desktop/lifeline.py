"""Child processes that end with the process that started them, however it ends.

A parent starts each child with :func:`popen`, which tells the child who its owner is (the
``TNM_OWNER_PID`` variable). The child calls :func:`watch_owner` early: a thread that notices the
owner is gone — SIGTERM, a crash or SIGKILL alike — and stops the child the way SIGTERM would.
On POSIX a child sees its owner die when it is handed to another parent (``getppid()`` changes);
on Windows it waits on the owner's process handle. A parent-death signal (Linux ``prctl``) is not
used: it fires when the *thread* that started the child ends, and the app starts children from
worker threads.

On Windows the parent also puts its children in a job object that kills them when the last
handle to it closes, which the system does when the parent dies: even a child too busy to notice
ends then.

PostgreSQL daemonizes away from whoever starts it, so it cannot watch anyone: a small guard
process (``tnm_desktop.pgcluster.guard``) watches the owner for it and stops the server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

OWNER_ENV = "TNM_OWNER_PID"
_POLL_S = 0.25  # how soon a POSIX child notices: one getppid() call per tick


def owned_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that must end with this process."""
    env = dict(os.environ if base is None else base)
    env[OWNER_ENV] = str(os.getpid())
    return env


def popen(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, in_job: bool = True,
          **kwargs: Any) -> subprocess.Popen[Any]:
    """Start a child process that ends with this one (it must call :func:`watch_owner`).

    Args:
        cmd: The command.
        env: Its environment (default: this process's).
        in_job: On Windows, also put it in the job object that kills it with this process. A
            guard that must outlive this process for a moment to clean up says False.
        kwargs: Passed to :class:`subprocess.Popen`.
    """
    process: subprocess.Popen[Any] = subprocess.Popen(cmd, env=owned_env(env), **kwargs)  # noqa: S603 — callers pass our own commands
    if os.name == "nt" and in_job:
        _windows_job_assign(process)
    return process


def watch_owner(on_gone: Callable[[], None] | None = None) -> bool:
    """In a child started by :func:`popen`: call ``on_gone`` once its owner is gone.

    ``on_gone`` runs on a watcher thread; the default raises SIGTERM in this process, so a
    program that already stops cleanly on SIGTERM needs nothing else. The variable naming the
    owner is removed, so that this process's own children do not take it for theirs.

    Returns:
        Whether an owner is being watched (False when this process was not started by one).
    """
    raw = os.environ.pop(OWNER_ENV, "")
    if not raw.isdigit():
        return False
    owner = int(raw)
    action = on_gone or _raise_sigterm
    watcher = _watch_windows if os.name == "nt" else _watch_posix
    threading.Thread(target=watcher, args=(owner, action), name="owner-watch", daemon=True).start()
    return True


def _raise_sigterm() -> None:
    log.warning("the process that started this one is gone: stopping")
    signal.raise_signal(signal.SIGTERM)


def _watch_posix(owner: int, on_gone: Callable[[], None]) -> None:
    # Orphans are handed to init (or a subreaper): the parent's pid changes for good.
    while os.getppid() == owner:
        time.sleep(_POLL_S)
    on_gone()


def _watch_windows(owner: int, on_gone: Callable[[], None]) -> None:  # pragma: no cover — Windows only
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    synchronize, infinite = 0x00100000, 0xFFFFFFFF
    handle = kernel32.OpenProcess(synchronize, False, owner)
    if handle:  # no handle: the owner is gone already
        kernel32.WaitForSingleObject(handle, infinite)
        kernel32.CloseHandle(handle)
    on_gone()


# Windows: one job object per parent, closed by the system when the parent dies ----------------

_job_lock = threading.Lock()
_job_handle: int | None = None


def _windows_job_assign(process: subprocess.Popen[Any]) -> None:  # pragma: no cover — Windows only
    global _job_handle
    import ctypes
    from ctypes import wintypes

    class BasicLimits(ctypes.Structure):
        _fields_ = [("PerProcessUserTimeLimit", ctypes.c_int64), ("PerJobUserTimeLimit", ctypes.c_int64),
                    ("LimitFlags", wintypes.DWORD), ("MinimumWorkingSetSize", ctypes.c_size_t),
                    ("MaximumWorkingSetSize", ctypes.c_size_t), ("ActiveProcessLimit", wintypes.DWORD),
                    ("Affinity", ctypes.c_size_t), ("PriorityClass", wintypes.DWORD),
                    ("SchedulingClass", wintypes.DWORD)]

    class IoCounters(ctypes.Structure):
        _fields_ = [(name, ctypes.c_uint64) for name in (
            "ReadOperationCount", "WriteOperationCount", "OtherOperationCount",
            "ReadTransferCount", "WriteTransferCount", "OtherTransferCount")]

    class ExtendedLimits(ctypes.Structure):
        _fields_ = [("BasicLimitInformation", BasicLimits), ("IoInfo", IoCounters),
                    ("ProcessMemoryLimit", ctypes.c_size_t), ("JobMemoryLimit", ctypes.c_size_t),
                    ("PeakProcessMemoryUsed", ctypes.c_size_t), ("PeakJobMemoryUsed", ctypes.c_size_t)]

    kill_on_job_close, extended_limit_information = 0x2000, 9
    last_error = getattr(ctypes, "get_last_error")  # noqa: B009 — Windows only: typeshed on Linux lacks it
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    kernel32.AssignProcessToJobObject.argtypes = [wintypes.HANDLE, wintypes.HANDLE]
    kernel32.SetInformationJobObject.argtypes = [wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD]
    with _job_lock:
        if _job_handle is None:
            handle = kernel32.CreateJobObjectW(None, None)
            if not handle:
                log.warning("no job object (error %s): children end only when they notice", last_error())
                return
            limits = ExtendedLimits()
            limits.BasicLimitInformation.LimitFlags = kill_on_job_close
            if not kernel32.SetInformationJobObject(handle, extended_limit_information, ctypes.byref(limits),
                                                    ctypes.sizeof(limits)):
                log.warning("job object not set up (error %s)", last_error())
                kernel32.CloseHandle(handle)
                return
            _job_handle = handle  # never closed by us: the system closes it when this process ends
        job = _job_handle
    with contextlib.suppress(OSError):
        if not kernel32.AssignProcessToJobObject(job, int(process._handle)):  # type: ignore[attr-defined]
            log.warning("process %s not put in the job object (error %s)", process.pid, last_error())
