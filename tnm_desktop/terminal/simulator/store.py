"""The simulator's state file: written atomically, readable only by its owner, locked while served.

The file holds the books and, while a server runs, the server's endpoint and access token, so
a client that knows only the file can connect. Each save writes a temporary file beside it
(0600), flushes it to disk and renames it over the old one: a reader or a crash sees either
the old state or the new one, never half of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tnm_desktop.errors import OperationalError, UserError
from tnm_desktop.terminal.simulator.model import SimState, state_from_json, state_to_json

HOST = "127.0.0.1"  # the simulator never listens beyond this machine


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a running simulator listens and the token it wants."""

    host: str
    port: int
    token: str
    pid: int

    def __repr__(self) -> str:
        return f"Endpoint(host={self.host!r}, port={self.port}, token=<redacted>, pid={self.pid})"


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StateFile:
    """One simulator state file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser().absolute()

    def __repr__(self) -> str:
        return f"StateFile({str(self.path)!r})"

    def read(self) -> dict[str, Any] | None:
        """Return the file's document, or ``None`` if there is no file yet.

        Raises:
            UserError: the file is not a simulator state file.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{self.path} is not a simulator state file.", code="bad_state_file") from exc
        if not isinstance(document, dict) or "simulator" not in document:
            raise UserError(f"{self.path} is not a simulator state file.", code="bad_state_file")
        return document

    def load(self) -> SimState | None:
        """Return the saved books, or ``None`` if there is no file yet."""
        document = self.read()
        if document is None:
            return None
        try:
            return state_from_json(document["simulator"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"{self.path} holds a state this version cannot read: {exc}",
                            code="bad_state_file") from exc

    def endpoint(self) -> Endpoint | None:
        """Return the endpoint the file records, if a server wrote one."""
        document = self.read()
        data = document.get("endpoint") if document else None
        if not isinstance(data, dict):
            return None
        return Endpoint(host=str(data["host"]), port=int(data["port"]), token=str(data["token"]),
                        pid=int(data["pid"]))

    def save(self, state: SimState, endpoint: Endpoint | None = None) -> None:
        """Write the books (and the endpoint) atomically, owner-only."""
        document: dict[str, Any] = {"simulator": state_to_json(state)}
        if endpoint is not None:
            document["endpoint"] = {"host": endpoint.host, "port": endpoint.port, "token": endpoint.token,
                                    "pid": endpoint.pid}
        data = json.dumps(document, separators=(",", ":")).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            if os.name == "posix":
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_directory(self.path.parent)

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Hold the file's lock for as long as a server uses it.

        Raises:
            OperationalError: another simulator process already serves this file.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = open(lock_path, "a+b")  # held open for the whole with-block
        try:
            if os.name == "posix":
                os.chmod(lock_path, 0o600)
            if not _try_lock(handle):
                raise OperationalError(f"Another simulator is already serving {self.path}.", code="simulator_busy")
            yield
        finally:
            handle.close()  # closing the file releases the lock


def _try_lock(handle: IO[bytes]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
