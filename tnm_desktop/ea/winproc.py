"""Start MetaTrader's programs on Windows: command lines, waiting with a time limit, closing.

MetaEditor and the terminal read their switches in the form ``/switch:"value"``: the quotes go
after the colon. An argument list would have Python quote the whole switch
(``"/compile:C:\\a b\\x.mq5"``), which MetaEditor does not understand (it exits at once, writing
nothing). So the command line is built here as one string, the way MetaTrader expects it, and
passed to Windows as is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import PurePath

from tnm_desktop.errors import OperationalError, TransientError

# Windows process creation flags, spelled out: the subprocess constants exist only on Windows.
_CREATE_NO_WINDOW = 0x08000000
_DETACHED_PROCESS = 0x00000008
_CREATE_NEW_PROCESS_GROUP = 0x00000200


def quote(path: PurePath | str) -> str:
    """Return a path in double quotes, as a Windows command line carries it.

    Raises:
        OperationalError: The path contains a double quote, which no Windows path can.
    """
    text = str(path)
    if '"' in text:
        raise OperationalError(f"The path {text} contains a double quote, which Windows does not allow.")
    return f'"{text}"'


def switch(name: str, path: PurePath | str) -> str:
    """Return ``/name:"path"``, the form MetaEditor and the terminal read."""
    return f"/{name}:{quote(path)}"


def require_windows(program: str) -> None:
    """Refuse to go on unless this is Windows, naming the program that needs it."""
    if sys.platform != "win32":
        raise OperationalError(
            f"{program} runs only on Windows, and this computer runs {sys.platform}. "
            "Use the simulated toolchain here, or run the agent on the Windows machine with MetaTrader 5.",
            code="ea_not_windows")


def run_to_end(command_line: str, *, timeout: float, program: str) -> int:
    """Run a command line to its end and return the exit code.

    Raises:
        TransientError: It did not finish within ``timeout`` seconds (it is killed).
        OperationalError: Windows could not start it.
    """
    require_windows(program)
    try:
        completed = subprocess.run(  # noqa: S603 — our own quoted command line; the paths are the user's configuration
            command_line, timeout=timeout, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, creationflags=_CREATE_NO_WINDOW)
    except subprocess.TimeoutExpired as e:
        raise TransientError(f"{program} did not finish within {timeout:.0f} seconds and was stopped.",
                             code="ea_timeout") from e
    except OSError as e:
        raise OperationalError(f"Windows could not start {program}: {e.strerror or e}.", code="ea_start") from e
    return completed.returncode


def start_detached(command_line: str, *, program: str) -> int:
    """Start a program that keeps running on its own; return its process id."""
    require_windows(program)
    try:
        process = subprocess.Popen(  # noqa: S603 — our own quoted command line
            command_line, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            creationflags=_DETACHED_PROCESS | _CREATE_NEW_PROCESS_GROUP, close_fds=True)
    except OSError as e:
        raise OperationalError(f"Windows could not start {program}: {e.strerror or e}.", code="ea_start") from e
    return process.pid


def image_of(pid: int) -> str | None:
    """Return the executable name of a running process (``terminal64.exe``), None when none runs."""
    require_windows("tasklist")
    try:
        listing = subprocess.run(  # noqa: S603 — fixed program, numeric argument
            ["tasklist", "/FI", f"PID eq {int(pid)}", "/FO", "CSV", "/NH"],  # noqa: S607 — a Windows system tool
            capture_output=True, text=True, timeout=30, check=False, creationflags=_CREATE_NO_WINDOW)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TransientError(f"Could not list Windows processes: {e}.", code="ea_tasklist") from e
    first = listing.stdout.strip().splitlines()[:1]
    if not first or not first[0].startswith('"'):
        return None  # "INFO: No tasks are running which match the specified criteria."
    return first[0].split('","')[0].strip('"')


def close_process(pid: int, *, force: bool) -> None:
    """Ask a process to close (as its window's close button would), or end it when ``force``."""
    require_windows("taskkill")
    command = ["taskkill", "/PID", str(int(pid))] + (["/F"] if force else [])
    try:
        subprocess.run(command, capture_output=True, timeout=30, check=False,  # noqa: S603 — a Windows system tool, numeric argument
                       creationflags=_CREATE_NO_WINDOW)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TransientError(f"Could not close process {pid}: {e}.", code="ea_taskkill") from e
