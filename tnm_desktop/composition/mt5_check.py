"""The MT5 connection test: ``tnm-desktop mt5 test``, and the app's "Test connection" through it.

The test runs in a process of its own: the ``MetaTrader5`` package keeps one connection per
process and is not thread-safe, so testing in the app's process could cut the running agent's
connection. The password goes to that process on its standard input, never on its command line.
It prints one JSON line (the :class:`~tnm_desktop.terminal.check.ConnectionCheck`), or the
one-line error every command prints.
"""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import json
import logging
import subprocess
import sys
from pathlib import Path

from tnm_desktop.composition.agent import target_config
from tnm_desktop.composition.terminal import open_terminal
from tnm_desktop.errors import OperationalError, TnmError
from tnm_desktop.terminal.check import ConnectionCheck, check_connection
from tnm_desktop.terminal.port import AccountMode, ConnectSettings

log = logging.getLogger(__name__)

_TIMEOUT_S = 120  # the terminal may have to start and log in first


def run(terminal_path: str, login: int | None, server: str | None, simulator_state: Path | None,
        password_stdin: bool) -> int:
    """``tnm-desktop mt5 test``: connect, print what was found as one JSON line; return 0."""
    password = None
    if password_stdin:  # typed at a prompt when a person runs it; one line on stdin from the app
        password = getpass.getpass("MT5 password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    config = target_config(terminal_path, login, server, password, simulator_state)
    settings = ConnectSettings(path=config.settings.path, login=login, password=password or None, server=server)
    terminal = open_terminal(config)
    try:
        found = check_connection(terminal, settings)
    finally:
        terminal.shutdown()
    print(json.dumps(dataclasses.asdict(found)), flush=True)
    return 0


async def test_terminal(terminal_path: str, login: int | None, server: str | None, password: str | None,
                        simulator_state: Path | None) -> ConnectionCheck:
    """Run the connection test in a process of its own and return what it found.

    Raises:
        TnmError: What the test reported (the terminal not found, the login refused…), as the
            trader should read it.
    """
    command = [sys.executable, "-m", "tnm_desktop", "mt5", "test", "--terminal", terminal_path,
               "--password-stdin"]
    if login is not None:
        command += ["--login", str(login)]
    if server:
        command += ["--server", server]
    if simulator_state is not None:
        command += ["--simulator-state", str(simulator_state)]

    def run_it() -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(command, input=(password or "") + "\n", capture_output=True, text=True,  # noqa: S603
                                  timeout=_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise OperationalError("MetaTrader 5 did not answer within two minutes. Look at the terminal's "
                                   "window (a dialog may be waiting), then test again.", code="terminal_timeout"
                                   ) from exc

    done = await asyncio.to_thread(run_it)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.startswith("tnm-desktop: ")]
        if not lines:
            log.warning("the connection test failed: %s", done.stderr[-2000:])
        message = lines[-1].removeprefix("tnm-desktop: ") if lines else ("The connection test failed unexpectedly; "
                                                                         "the details are in the log file.")
        raise TnmError(message, code="terminal_test_failed")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    data["mode"] = AccountMode(data["mode"])
    return ConnectionCheck(**data)
