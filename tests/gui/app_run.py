"""Running the real app entry point, ``run()``, from a test: a fresh machine and a scripted user."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWidget
from tnm_desktop import runlog
from tnm_desktop.composition import gui as gui_app
from tnm_desktop.pgcluster import LocalCluster, free_port
from tnm_desktop.profiles import log_dir
from tnm_desktop.workspace import Workspace

from tests.conftest import reachable_tmpdir


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A user's config, data and log directories with nothing in them yet."""
    root = reachable_tmpdir("tnm-gui-run-")
    for name, sub in (("TNM_CONFIG_DIR", "config"), ("TNM_DATA_DIR", "data"), ("TNM_LOG_DIR", "log")):
        monkeypatch.setenv(name, str(root / sub))
    # The receivers of the workspace and the demo get free ports: a test never binds 8787.
    for folder in ("workspace", "demo"):
        Workspace(root / "data" / folder).update_settings(receiver_port=free_port())
    yield root
    for folder in ("workspace", "demo"):
        cluster = LocalCluster(root / "data" / folder / "db")
        if cluster.is_running():
            cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


def drive(step: Callable[[list[QWidget]], bool], limit_s: float = 90, *, demo: bool = False,
          workspace: Path | None = None) -> int:
    """Run the app, calling ``step`` with the top-level windows every 50 ms until it returns True."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    deadline = time.monotonic() + limit_s
    done = [False]
    failed: list[BaseException] = []
    waiting: list[str] = []  # what the app was waiting for when the time ran out
    ended = [False]

    def give_up() -> None:  # closing every window makes run() return
        for widget in app.topLevelWidgets():
            widget.close()

    def tick() -> None:
        if ended[0]:  # a tick left over after run() returned must not touch a later test's windows
            return
        if time.monotonic() > deadline:
            waiting.append(_tasks_waiting())
            give_up()
            return
        if not done[0]:
            try:
                done[0] = step([w for w in app.topLevelWidgets() if w.isVisible()])
            except BaseException as exc:  # a failed step must end the run, not stop the ticks
                failed.append(exc)
                give_up()
                return
        QTimer.singleShot(50, tick)

    QTimer.singleShot(50, tick)
    try:
        status = gui_app.run(demo=demo, workspace=workspace)
    finally:
        ended[0] = True
    if failed:
        raise failed[0]
    assert done[0], (f"the scripted steps did not finish; the app was waiting on:\n{''.join(waiting)}\n"
                     f"its log ended with:\n{_log_tail()}")
    return status


def _tasks_waiting() -> str:
    """The app's unfinished tasks, each with where it waits."""
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:
        return "  (no event loop running)\n"
    lines = []
    for task in tasks:
        frames = task.get_stack(limit=1)
        where = f"{frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else "?"
        lines.append(f"  {task.get_name()} at {where}\n")
    return "".join(sorted(lines))


def _log_tail(lines: int = 60) -> str:
    """The last lines of the newest run's log: what the app was doing when the steps stopped."""
    runs = runlog.run_files(log_dir())
    if not runs:
        return "(no log file)"
    current = list(runs.values())[-1][0]  # the newest run; its rotated files (….log.1) sort after it
    try:
        return "\n".join(current.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(log unreadable: {exc})"
