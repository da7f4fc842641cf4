"""Start ``tnm-desktop simulator serve`` as a child process and wait until it listens."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tnm_desktop import lifeline
from tnm_desktop.errors import OperationalError
from tnm_desktop.terminal.simulator.client import RemoteMt5


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
        if self.reader is not None:
            self.reader.join(10)  # the pipe ends with the process: let the reader see that first
        if self.process.stdout is not None:
            self.process.stdout.close()


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
    process = lifeline.popen(command, stdout=subprocess.PIPE, text=True)  # it ends with this process
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        # Drains the pipe for the process's whole life, so the server never blocks on printing.
        try:
            for line in process.stdout or ():
                lines.put(line)
        except (OSError, ValueError):
            pass  # the pipe was closed under us
        lines.put("")

    reader = threading.Thread(target=read, name="simulator-stdout", daemon=True)
    reader.start()
    try:
        while True:
            line = lines.get(timeout=timeout)
            if not line:
                raise OperationalError(f"The simulator exited with status {process.wait()} before it was ready.",
                                       code="simulator_failed")
            if line.startswith("listening="):
                host, _, port_text = line.strip().partition("=")[2].rpartition(":")
                return SimulatorProcess(process, Path(state_file), host, int(port_text), reader)
    except queue.Empty:
        process.kill()
        process.wait()
        raise OperationalError("The simulator did not get ready in time.", code="simulator_failed") from None
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        raise


def simulator_alive(state_file: Path) -> bool:
    """Whether a simulator server is serving ``state_file`` now (it answers ``initialize``)."""
    if not state_file.exists():
        return False
    try:
        client = RemoteMt5(state_file, timeout=2.0)
    except (OSError, ValueError, OperationalError):
        return False
    try:
        return bool(client.initialize())
    except (OSError, ValueError, OperationalError):
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
