"""One log file per run of the desktop app, in the data folder's ``logs`` (``profiles.log_dir``).

A trader asked for the log attaches the file of the run that went wrong: its name says when that
run started (``tnm-desktop-2026-12-05_093012-4242.log``, the process id last so that two windows
started in the same second keep their own). A long run rotates its file at 2 MB (``….log.1`` …);
the newest runs' files are kept, older ones removed when a run starts.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from pathlib import Path

PREFIX = "tnm-desktop-"
KEEP_RUNS = 10  # runs whose logs are kept, this one included
MAX_BYTES = 2_000_000  # one file of a run, before it rotates
BACKUPS = 4  # rotated files kept per run: at most 10 MB a run
_RUN_FILE = re.compile(rf"^({re.escape(PREFIX)}\d{{4}}-\d{{2}}-\d{{2}}_\d{{6}}-\d+)\.log(?:\.\d+)?$")

_current: Path | None = None


def file_name(started: datetime, pid: int) -> str:
    """The log file's name for a run started at ``started`` by process ``pid``."""
    return f"{PREFIX}{started:%Y-%m-%d_%H%M%S}-{pid}.log"


def run_files(directory: Path) -> dict[str, list[Path]]:
    """The runs' log files in ``directory``, by run, oldest run first (other files are not touched)."""
    runs: dict[str, list[Path]] = {}
    try:
        names = sorted(p for p in directory.iterdir() if p.is_file())
    except OSError:
        return {}
    for path in names:
        match = _RUN_FILE.match(path.name)
        if match:
            runs.setdefault(match.group(1), []).append(path)
    return dict(sorted(runs.items()))


def remove_old_runs(directory: Path, keep: int) -> list[Path]:
    """Remove the files of all but the newest ``keep`` runs; return what was removed.

    A file another running instance holds open (Windows refuses to remove it) is left for later.
    """
    runs = list(run_files(directory).values())
    removed = []
    for files in runs[:max(len(runs) - keep, 0)]:
        for path in files:
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def start(directory: Path, started: datetime, pid: int) -> Path:
    """Make room for a new run's log in ``directory`` and return its path (the file is not created).

    Raises:
        OSError: the folder cannot be created.
    """
    directory.mkdir(parents=True, exist_ok=True)
    remove_old_runs(directory, KEEP_RUNS - 1)
    return directory / file_name(started, pid)


def use(path: Path | None) -> None:
    """Record the file this process logs to (None: none, or no longer)."""
    global _current
    _current = path


def current() -> Path | None:
    """The file this process logs to, as :func:`use` recorded it (None: no log file)."""
    return _current
