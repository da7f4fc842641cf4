"""The simulator's state file: a SQLite store readable only by its owner, locked while served.

The file holds the books (see :mod:`book_store`) and, while a server runs, the server's endpoint
and access token, so a client that knows only the file can connect. A new file is built beside
its final name and renamed into place, so a crash leaves either no file or a whole one.

Files of format 1 (one JSON document, rewritten on every change) are migrated when a server
first opens them: the state is checked, written to a new store, the old file is kept beside it
as ``<name>.v1.bak``, and the store takes its name. Reading one (``simulator history``) needs
no migration. Anything that is not a readable state file is refused with a message that says
what is wrong and where, and nothing on disk is changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from tnm_desktop.errors import OperationalError, UserError
from tnm_desktop.terminal.simulator import book_store, checked
from tnm_desktop.terminal.simulator.book_store import BookStore
from tnm_desktop.terminal.simulator.checked import BadState
from tnm_desktop.terminal.simulator.model import SimState

HOST = "127.0.0.1"  # the simulator never listens beyond this machine
_SQLITE = b"SQLite format 3\x00"

Kind = Literal["missing", "store", "json"]


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
        return  # Windows has no directory handles to flush; its renames are journaled by NTFS
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

    # -- errors, as the trader reads them -------------------------------------------------------

    def _damaged(self, detail: str) -> UserError:
        return UserError(f"The simulator state file {self.path} is damaged ({detail}). Restore it from a backup, "
                         "or move it away to start a new paper account.", code="bad_state_file")

    def _unusable(self, exc: OSError | sqlite3.Error, doing: str) -> UserError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return UserError(f"The simulator state file {self.path} cannot be {doing}: {reason}. Check the folder's "
                         "permissions and free space.", code="state_file_access")

    def _sqlite(self, exc: sqlite3.Error, doing: str) -> UserError:
        if isinstance(exc, sqlite3.OperationalError):  # could not open, lock, read or write
            return self._unusable(exc, doing)
        return self._damaged(str(exc))  # SQLite found the file itself broken

    def kind(self) -> Kind:
        """Say what the file is: missing, a store, or a format 1 JSON document.

        Raises:
            UserError: it is a folder, cannot be read, or is not a simulator state file.
        """
        if self.path.is_dir():
            raise UserError(f"The simulator state file {self.path} is a folder. Give the path of a file "
                            "(it is created if missing).", code="bad_state_file")
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(len(_SQLITE))
        except FileNotFoundError:
            return "missing"
        except OSError as exc:
            raise self._unusable(exc, "read") from exc
        if head == _SQLITE:
            return "store"
        if head.lstrip()[:1] == b"{":
            return "json"
        raise UserError(f"{self.path} is not a simulator state file. Give another path, or move that file away.",
                        code="bad_state_file")

    # -- reading (any process) ----------------------------------------------------------------

    def _read_json(self) -> dict[str, object]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise self._damaged("it is not UTF-8 text") from exc
        except OSError as exc:
            raise self._unusable(exc, "read") from exc
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise self._damaged(f"it is not valid JSON: {exc}") from exc
        if not isinstance(document, dict) or "simulator" not in document:
            raise UserError(f"{self.path} is not a simulator state file. Give another path, or move that file away.",
                            code="bad_state_file")
        return document

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        try:
            db = book_store.connect(self.path)
        except sqlite3.Error as exc:
            raise self._sqlite(exc, "opened") from exc
        try:
            yield db
        except BadState as exc:
            raise self._damaged(str(exc)) from exc
        except sqlite3.Error as exc:
            raise self._sqlite(exc, "read") from exc
        finally:
            db.close()

    def load(self) -> SimState | None:
        """Return the saved books (checked), or ``None`` if there is no file yet.

        Raises:
            UserError: the file is not a readable simulator state file.
        """
        kind = self.kind()
        if kind == "missing":
            return None
        if kind == "json":
            try:
                return checked.state_from_json(self._read_json()["simulator"])
            except BadState as exc:
                raise self._damaged(str(exc)) from exc
        with self._reading() as db:
            return book_store.read_state(db)

    def endpoint(self) -> Endpoint | None:
        """Return the endpoint the file records, if a server runs on it (format 1 files have none)."""
        if self.kind() != "store":
            return None
        with self._reading() as db:
            data = book_store.read_endpoint(db)
        if not isinstance(data, dict):
            return None
        try:
            return Endpoint(host=str(data["host"]), port=int(data["port"]), token=str(data["token"]),
                            pid=int(data["pid"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise self._damaged("its server address is not readable") from exc

    # -- the server's side (under :meth:`serving`) ------------------------------------------

    def open(self, fresh: Callable[[], SimState]) -> tuple[BookStore, SimState]:
        """Open the store for the server that serves it, creating it or migrating a format 1 file first.

        Args:
            fresh: Makes the books of a new file.

        Raises:
            UserError: the file is not a readable simulator state file, or cannot be written.
        """
        kind = self.kind()
        if kind == "missing":
            self._install(fresh())
        elif kind == "json":
            state = self.load()
            assert state is not None
            self._install(state, keep=self._backup_path())
        try:
            db = book_store.connect(self.path)
        except sqlite3.Error as exc:
            raise self._sqlite(exc, "opened") from exc
        try:
            state = book_store.read_state(db)
            db.execute("pragma journal_mode = wal")
        except BadState as exc:
            db.close()
            raise self._damaged(str(exc)) from exc
        except sqlite3.Error as exc:
            db.close()
            raise self._sqlite(exc, "opened") from exc
        return BookStore(db, state), state

    def _backup_path(self) -> Path:
        for n in range(1, 1000):
            suffix = ".v1.bak" if n == 1 else f".v1-{n}.bak"
            candidate = self.path.with_name(self.path.name + suffix)
            if not candidate.exists():
                return candidate
        raise UserError(f"Too many old copies of {self.path} lie beside it; remove some.", code="state_file_access")

    def _install(self, state: SimState, keep: Path | None = None) -> None:
        # Build the store under a temporary name, then give it the file's name in one rename; a
        # format 1 file is copied aside first, so the old state is never only in memory.
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
            os.close(fd)  # mkstemp makes it owner-only; SQLite gives its log files the same mode
        except OSError as exc:
            raise self._unusable(exc, "written") from exc
        try:
            db = book_store.connect(Path(temporary))
            try:
                book_store.initialize(db, state)
            finally:
                db.close()  # the last connection folds the log into the file and removes it
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
            if keep is not None:
                shutil.copy2(self.path, keep)
                with open(keep, "rb+") as handle:
                    os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            _fsync_directory(directory)
        except (OSError, sqlite3.Error) as exc:
            for leftover in (temporary, f"{temporary}-wal", f"{temporary}-shm"):
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
            raise self._unusable(exc, "written") from exc

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Hold the file's lock for as long as a server uses it.

        Raises:
            OperationalError: another simulator process already serves this file.
        """
        self.kind()  # a folder or a foreign file is refused before anything is created beside it
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.path.with_name(self.path.name + ".lock")
            handle = open(lock_path, "a+b")  # held open for the whole with-block
        except OSError as exc:
            raise self._unusable(exc, "written") from exc
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
