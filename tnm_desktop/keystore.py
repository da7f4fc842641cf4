"""Secrets in the OS keyring — and only there.

Refresh tokens, pairing keys and MT5 passwords go through this module. Where the machine has no
OS keyring (a headless Linux box), :func:`ensure_keyring` says so once and switches to
:class:`FileKeyring`: a JSON file readable by its owner only, inside the workspace or the config
directory. Never a plain config file, never silently.

All functions block (the OS keyring may ask D-Bus or show a prompt): call them off the GUI thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError, PasswordDeleteError

from tnm_desktop import files
from tnm_desktop.errors import OperationalError

log = logging.getLogger(__name__)

SERVICE = "tnm-desktop"


class FileKeyring(KeyringBackend):
    """A keyring in one owner-only JSON file, for machines without an OS keyring.

    The file is not encrypted: it is protected by file permissions (0600, and 0700 for a folder
    made for it), like an SSH key. Writes are atomic. A folder that exists already keeps its
    permissions: it may be a workspace whose database server, run as another user when the app
    runs as root, must reach into it.
    """

    priority = 0.5

    def __init__(self, path: Path) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.path = Path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FileKeyring({str(self.path)!r})"

    def _load(self) -> dict[str, dict[str, str]]:
        # A damaged file is refused, never replaced: it holds secrets that cannot be made again.
        data = files.read_json_object(self.path, "the keyring file")
        if data is None:
            return {}
        if not all(isinstance(v, dict) and all(isinstance(x, str) for x in v.values()) for v in data.values()):
            raise files.damaged("the keyring file", self.path, "not a keyring")
        return {str(k): dict(v) for k, v in data.items()}

    def _save(self, data: dict[str, dict[str, str]]) -> None:
        try:
            if not self.path.parent.is_dir():
                self.path.parent.mkdir(mode=0o700, parents=True)
                with contextlib.suppress(OSError):
                    os.chmod(self.path.parent, 0o700)  # whatever the umask
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keyring-")
        except OSError as exc:
            raise files.problem(exc, "the keyring file's folder", self.path.parent) from exc
        try:
            os.fchmod(fd, 0o600) if hasattr(os, "fchmod") else None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                raise files.problem(exc, "the keyring file", self.path) from exc
            raise

    def get_password(self, service: str, username: str) -> str | None:
        with self._lock:
            return self._load().get(service, {}).get(username)

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._lock:
            data = self._load()
            data.setdefault(service, {})[username] = password
            self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        with self._lock:
            data = self._load()
            if username not in data.get(service, {}):
                raise PasswordDeleteError(username)
            del data[service][username]
            self._save(data)


_fallback_lock = threading.Lock()


def _os_keyring_works() -> bool:
    backend = keyring.get_keyring()
    if backend.priority <= 0:  # keyring's fail/null backends
        return False
    try:
        backend.get_password(SERVICE, "__probe__")
    except (KeyringError, RuntimeError, OSError):
        return False
    return True


def ensure_keyring(fallback_dir: Path) -> str:
    """Make sure secrets have a keyring to go to; return a description of the one in use.

    Keeps the OS keyring when it works; otherwise switches, once, to a :class:`FileKeyring` in
    ``fallback_dir`` and logs a warning saying so.
    """
    with _fallback_lock:
        current = keyring.get_keyring()
        if isinstance(current, FileKeyring) or _os_keyring_works():
            return repr(current)
        backend = FileKeyring(Path(fallback_dir) / "keyring.json")
        keyring.set_keyring(backend)
        log.warning("No OS keyring is available on this machine; secrets are kept in %s, "
                    "readable by this user only.", backend.path)
        return repr(backend)


def get_secret(name: str) -> str | None:
    """Read a secret, or None when there is none."""
    try:
        return keyring.get_password(SERVICE, name)
    except KeyringError as exc:
        raise OperationalError(f"The keyring could not be read: {exc}", code="keyring") from exc


def set_secret(name: str, value: str) -> None:
    """Store a secret."""
    try:
        keyring.set_password(SERVICE, name, value)
    except KeyringError as exc:
        raise OperationalError(f"The keyring could not be written: {exc}", code="keyring") from exc


def delete_secret(name: str) -> None:
    """Remove a secret; nothing happens when it is not there."""
    try:
        keyring.delete_password(SERVICE, name)
    except PasswordDeleteError:
        return
    except KeyringError as exc:
        raise OperationalError(f"The keyring could not be written: {exc}", code="keyring") from exc
