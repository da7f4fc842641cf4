"""Start ``tnm-desktop simulator serve`` as a child process and wait until it listens."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tnm_desktop import lifeline
from tnm_desktop.errors import OperationalError, TnmError
from tnm_desktop.terminal.simulator.client import RemoteMt5
from tnm_desktop.terminal.simulator.store import HOST

ERROR_PREFIX = "tnm-desktop: "  # how the command line reports an error (tnm_desktop.cli)


@dataclass
class SimulatorProcess:
    """A running simulator server process.

    Attributes:
        process: The child process.
        state_file: The state file it serves.
        host: The address it listens on (always 127.0.0.1).
        port: The TCP port it listens on.
    """

    process: subprocess.Popen[str]
    state_file: Path
    host: str
    port: int
    reader: threading.Thread | None = field(default=None, repr=False)
    errors: threading.Thread | None = field(default=None, repr=False)

    def client(self, *, timeout: float = 10.0) -> RemoteMt5:
        """Return a new MT5-API client of this simulator."""
        return RemoteMt5(self.state_file, timeout=timeout)

    def stop(self, timeout: float = 15.0) -> int:
        """Ask the server to stop (SIGTERM) and wait; kill it if it does not. Return its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._release()
        return self.process.returncode

    def kill(self) -> None:
        """Kill the server without letting it clean up (SIGKILL), as a crash would."""
        self.process.kill()
        self.process.wait()
        self._release()

    def _release(self) -> None:
        for reader in (self.reader, self.errors):
            if reader is not None:
                reader.join(10)  # the pipes end with the process: let the readers see that first
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def start_simulator(state_file: Path | str, *, port: int | None = None, manual_clock: bool = False,
                    seed: int | None = None, server_offset_hours: float | None = None, timeout: float = 30.0,
                    python: str = sys.executable) -> SimulatorProcess:
    """Start a simulator server on ``state_file`` and return once it prints ``listening=HOST:PORT``.

    Raises:
        OperationalError: the server exited or did not get ready within ``timeout`` seconds.
    """
    command = [python, "-m", "tnm_desktop", "simulator", "serve", "--state", str(state_file)]
    if port is not None:
        command += ["--port", str(port)]
    if manual_clock:
        command.append("--manual-clock")
    if seed is not None:
        command += ["--seed", str(seed)]
    if server_offset_hours is not None:
        command += ["--server-offset", str(server_offset_hours)]
    process = lifeline.popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # it ends with this process
                             text=True, encoding="utf-8", errors="replace")
    lines: queue.Queue[str] = queue.Queue()
    said: list[str] = []  # what the server said was wrong, in its own words

    def read() -> None:
        # Drains the pipe for the process's whole life, so the server never blocks on printing.
        try:
            for line in process.stdout or ():
                lines.put(line)
        except (OSError, ValueError):
            pass  # the pipe was closed under us
        lines.put("")

    def read_errors() -> None:
        # Passes the server's log on to ours and keeps its last error, which names the problem.
        try:
            for line in process.stderr or ():
                if line.startswith(ERROR_PREFIX):
                    said[:] = [line[len(ERROR_PREFIX):].strip()]
                if sys.stderr is not None:
                    sys.stderr.write(line)
        except (OSError, ValueError):
            pass

    reader = threading.Thread(target=read, name="simulator-stdout", daemon=True)
    errors = threading.Thread(target=read_errors, name="simulator-stderr", daemon=True)
    reader.start()
    errors.start()
    try:
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                raise OperationalError("The simulator did not get ready in time.", code="simulator_failed") from None
            if not line:
                status = process.wait()
                errors.join(10)
                raise OperationalError(said[0] if said else f"The simulator exited with status {status} before it "
                                       "was ready.", code="simulator_failed")
            if line.startswith("listening="):
                host, _, port_text = line.strip().partition("=")[2].rpartition(":")
                return SimulatorProcess(process, Path(state_file), host, int(port_text), reader, errors)
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        SimulatorProcess(process, Path(state_file), HOST, 0, reader, errors)._release()
        raise


def simulator_alive(state_file: Path) -> bool:
    """Whether a simulator server is serving ``state_file`` now (it answers ``initialize``)."""
    if not state_file.exists():
        return False
    try:
        client = RemoteMt5(state_file, timeout=2.0)
    except (OSError, ValueError, TnmError):
        return False
    try:
        return bool(client.initialize())
    except (OSError, ValueError, TnmError):
        return False
    finally:
        client.close()


def ensure_simulator(state_file: Path) -> SimulatorProcess | None:
    """Start a simulator server on ``state_file`` unless one serves it already.

    Returns the process started here (the caller stops it), or None when another one serves it.
    """
    if simulator_alive(state_file):
        return None
    state_file.parent.mkdir(parents=True, exist_ok=True)
    return start_simulator(state_file)
