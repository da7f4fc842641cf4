"""File-system trouble in words a trader can act on: what, where, and what to do.

Every place that reads or writes the app's own files (a workspace, the profiles file, the
keyring file, the log) turns an ``OSError`` or a damaged file into an
:class:`~tnm_desktop.errors.OperationalError` through these helpers, so the command line prints
one line and the window shows a specific message instead of a traceback. A damaged file is never
replaced by a fresh one: it may hold what the trader cannot get back.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

from tnm_desktop.errors import OperationalError

_REASON_BY_NAME = {
    "EACCES": ("you are not allowed to write there",
               "Choose a folder you can write to, or give yourself access to it."),
    "EPERM": ("the system does not allow changes there (is it locked or immutable?)",
              "Choose another folder, or unlock this one."),
    "EROFS": ("its disk is read-only", "Choose a folder on a disk you can write to."),
    "ENOSPC": ("the disk is full", "Free some space, then try again."),
    "EDQUOT": ("your disk quota is used up", "Free some space, then try again."),
    "ENOTDIR": ("part of that path is a file, not a folder", "Choose a folder."),
    "EEXIST": ("a file is in the way where a folder is needed", "Choose a folder, or move that file away."),
    "EISDIR": ("it is a folder where a file is expected", "Move that folder away or choose another place."),
    "ENAMETOOLONG": ("the path is too long", "Choose a shorter path."),
    "ELOOP": ("the path loops through symbolic links", "Choose another folder."),
}
# Not every platform has every code (Windows lacks some): keep those it has.
_REASONS = {getattr(errno, name): text for name, text in _REASON_BY_NAME.items() if hasattr(errno, name)}


def problem(exc: OSError, what: str, path: Path | str | None = None) -> OperationalError:
    """The error to raise for ``exc``, hit while working on ``what`` (e.g. "the workspace folder").

    Args:
        exc: The error from the file system.
        what: What the trader knows the file or folder as.
        path: Where it is (default: the path in the error).
    """
    where = path if path is not None else (exc.filename or "")
    reason, advice = _REASONS.get(exc.errno or 0, (exc.strerror or str(exc), "Check the path and try again."))
    if isinstance(exc, FileNotFoundError):
        reason, advice = "it does not exist", "Check the path and try again."
    return OperationalError(f"Cannot use {what} {where}: {reason}. {advice}", code="file_system")


def damaged(what: str, path: Path, detail: str) -> OperationalError:
    """The error for a file that exists but cannot be understood; it is left as it is."""
    return OperationalError(
        f"{what[0].upper()}{what[1:]} {path} is damaged ({detail}). It was left as it is: repair it, or move it "
        "away to start that part afresh.", code="damaged_file")


def read_json_object(path: Path, what: str) -> dict[str, Any] | None:
    """Read a JSON object from ``path``; None when there is no such file.

    Raises:
        OperationalError: The file cannot be read, or is not a JSON object.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise damaged(what, path, "not text") from None
    except OSError as exc:
        raise problem(exc, what, path) from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise damaged(what, path, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise damaged(what, path, "not a JSON object")
    return data
