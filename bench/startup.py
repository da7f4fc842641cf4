"""Measurement 6 — start-up: from launch to a usable main window on an existing local workspace.

    python -m bench.startup [--launches 7] [--signals 10000] [--page strategies|signals]

A fresh user's machine in a temporary directory (``TNM_CONFIG_DIR``/``TNM_DATA_DIR``/
``TNM_LOG_DIR``; no OS keyring, so secrets go to the workspace's keyring file as on a headless
box). The workspace is made the way a trader makes it: the real app is launched once on
``--workspace DIR`` and signs up with "keep me signed in" through its sign-in window; then the
benchmark adds a broker, three strategies and ``--signals`` signals straight into its database.

Then the app is launched ``--launches`` times as a trader launches it, ``python -c`` running the
same ``tnm_desktop.cli.main(["--workspace", DIR])`` as ``python -m tnm_desktop --workspace DIR``,
in two states:

- **cold**: the workspace's database is stopped, so the app starts PostgreSQL itself (and stops it
  when it quits). The operating system's file cache is warm: this is a second launch of the day,
  not the first after a reboot.
- **warm**: the database is already running (the app uses it and leaves it running).

Cold and warm launches alternate, so that other work on the machine weighs on both alike.

Each launch restores the remembered session silently and opens the main window on its last page.
A probe in the launched process (an application event filter, no change to the app) prints the
wall-clock time of each stage: imports done, sign-in window shown, main window shown, the first
page's rows in (its view idle with rows), every page built. The launcher's clock starts just
before it starts the process. Then the probe closes the window and the app shuts down.

Beside it, where the time goes: ``python -X importtime`` of what the launch imports before the
first window (``tnm_desktop.cli`` and ``tnm_desktop.gui.shell.app``), and of the pages' modules, which
the app imports in a worker thread while the session is restored.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass

import psycopg
from tnm_desktop.pgcluster import LocalCluster
from tnm_desktop.workspace import Workspace

from bench.common import pct, print_machine, scratch_dir, table

PASSWORD = "bench start-up password"  # a throwaway account in a temporary workspace
EMAIL = "startup@bench.local"

# Runs in the launched process. Only Qt is imported before the app's own imports are timed, and
# the probe never imports the app's modules itself: it recognises windows by their class names.
_PROBE = r"""
import sys, time
print("stage interpreter", time.time(), flush=True)
mode, workspace, page = sys.argv[1], sys.argv[2], sys.argv[3]
import tnm_desktop.cli as cli
import tnm_desktop.gui.shell.app
print("stage imports", time.time(), flush=True)
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

app = QApplication(sys.argv[:1])  # what run() would create; it takes the existing one
seen = set()

def stage(name):
    if name not in seen:
        seen.add(name)
        print("stage", name, time.time(), flush=True)

def main_window():
    for widget in app.topLevelWidgets():
        if type(widget).__name__ == "MainWindow" and widget.isVisible():
            return widget
    return None

class Probe(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Show and isinstance(watched, QWidget) and watched.isWindow():
            stage({"SignInWindow": "sign-in window", "MainWindow": "main window"}.get(type(watched).__name__,
                                                                                  "other window"))
        return False

def ready(view):
    busy = getattr(view, "busy", None)
    model = getattr(view, "model", None)
    idle = busy is None or not busy.busy
    return idle and (model is None or model.rowCount() > 0 or mode == "signup")  # a new account has no rows

def tick():
    if mode == "signup":
        for widget in app.topLevelWidgets():
            if type(widget).__name__ == "SignInWindow" and widget.isVisible() and widget.sign_in_button.isEnabled() \
                    and "typed" not in seen:
                seen.add("typed")
                widget.email.setText(sys.argv[4])
                widget.password.setText(sys.argv[5])
                widget.remember.setChecked(True)
                widget.create_button.click()
    window = main_window()
    if window is not None:
        if mode == "signup" and page != "-" and "page" not in seen:
            seen.add("page")
            window.show_page(page)  # remembered: the next launches open on it
        key = window._pages[max(window.nav.currentRow(), 0)].key
        view = window.views.get(key)
        if view is not None and ready(view):
            stage("first page")
        if not window.building:
            stage("all pages built")
        if {"first page", "all pages built"} <= seen:
            stage("closing")
            window.close()
            return
    QTimer.singleShot(2, tick)

probe = Probe()
app.installEventFilter(probe)
QTimer.singleShot(0, tick)
status = cli.main(["--workspace", workspace])
print("stage exited", time.time(), flush=True)
sys.exit(status)
"""

STAGES = ("interpreter", "imports", "sign-in window", "main window", "first page", "all pages built", "exited")


@dataclass(frozen=True)
class Launch:
    """The stages of one launch, in seconds since the launcher started the process."""

    stages: dict[str, float]
    status: int


class Machine:
    """A user's directories in a scratch folder, and the workspace in it."""

    def __init__(self) -> None:
        self.root = scratch_dir("tnm-bench-startup-")
        self.workspace = self.root / "data" / "workspace"
        self.env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TNM_CONFIG_DIR=str(self.root / "config"),
                        TNM_DATA_DIR=str(self.root / "data"), TNM_LOG_DIR=str(self.root / "log"),
                        # No OS keyring: the app keeps its secrets in the workspace's keyring file.
                        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")

    @property
    def cluster(self) -> LocalCluster:
        return LocalCluster(self.workspace / "db")

    def launch(self, mode: str = "launch", page: str = "-") -> Launch:
        """Run the app once through the probe; return its stages."""
        started = time.time()
        done = subprocess.run([sys.executable, "-c", _PROBE, mode, str(self.workspace), page, EMAIL, PASSWORD],
                              env=self.env, capture_output=True, text=True, timeout=180, check=False)
        stages: dict[str, float] = {}
        for line in done.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "stage":
                stages[" ".join(parts[1:-1])] = float(parts[-1]) - started
        if done.returncode != 0 or "first page" not in stages:
            raise RuntimeError(f"the launch did not reach the first page (status {done.returncode}):\n"
                               f"{done.stdout}\n{done.stderr[-3000:]}")
        return Launch(stages, done.returncode)

    def close(self) -> None:
        if self.cluster.is_running():
            self.cluster.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def seed(machine: Machine, signals: int) -> None:
    """A broker, three strategies and ``signals`` signals for the workspace's user (database running)."""
    admin = Workspace(machine.workspace).open().admin  # as the app opens it (as root, it re-opens the folder)
    with psycopg.connect(admin, autocommit=True) as conn, conn.transaction():
        row = conn.execute("select id from auth.users where email = %s", (EMAIL,)).fetchone()
        assert row is not None, "the sign-up did not create the user"
        user = row[0]
        broker = conn.execute("insert into broker_connections (user_id, name, symbol_suffix) values (%s, 'Demo', '') "
                              "returning id", (user,)).fetchone()
        assert broker is not None
        strategies = [conn.execute("insert into tv_strategies (user_id, broker_connection_id, name) "
                                   "values (%s, %s, %s) returning id", (user, broker[0], name)).fetchone()
                      for name in ("Trend", "Breakout", "Mean reversion")]
        conn.execute("set local session_replication_role = replica")  # no notification per seeded row
        conn.execute(
            "insert into tv_signals (strategy_id, user_id, symbol, action, price, raw_payload, status, received_at) "
            "select (%s::uuid[])[1 + i %% 3], %s, (array['EURUSD', 'GBPUSD', 'XAUUSD'])[1 + i %% 3], 'buy', 1.085, "
            "jsonb_build_object('id', 'seed-' || i), 'executed', now() - i * interval '1 minute' "
            "from generate_series(0, %s - 1) i",
            ([s[0] for s in strategies if s is not None], user, signals))


def series(machine: Machine, launches: int) -> tuple[list[Launch], list[Launch], list[float]]:
    """``launches`` cold and warm launches, alternating (so that other work on the machine weighs on
    both alike), after one of each not counted (the file cache); and how long opening the stopped
    workspace took (starting PostgreSQL, checking migrations), in ms."""
    cold: list[Launch] = []
    warm: list[Launch] = []
    opening: list[float] = []
    for n in range(launches + 1):
        if machine.cluster.is_running():
            machine.cluster.stop()
        launch = machine.launch()
        if machine.cluster.is_running():
            raise RuntimeError("the app left the database it started running")
        started = time.perf_counter()
        Workspace(machine.workspace).open()  # started here: the app finds it running and leaves it so
        opening.append((time.perf_counter() - started) * 1000)
        warm_launch = machine.launch()
        if n > 0:
            cold.append(launch)
            warm.append(warm_launch)
    return cold, warm, opening


# ------------------------------------------------------------------------------------------------
# Import time

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


@dataclass(frozen=True)
class Imports:
    """One ``-X importtime`` run: the total, the top-level imports and each package's own time (ms)."""

    total: float
    top: dict[str, float]
    packages: dict[str, float]
    heaviest: list[tuple[str, float]]  # (module indented by its depth, cumulative ms) of 40 ms or more, as a tree


def import_time(code: str, env: dict[str, str]) -> Imports:
    """``python -X importtime -c code``, summarised."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    top: dict[str, float] = {}
    packages: dict[str, float] = defaultdict(float)
    every: list[tuple[str, float]] = []
    for line in done.stderr.splitlines():
        found = _IMPORT_LINE.match(line)
        if found is None:
            continue
        own, cumulative, indent, name = int(found[1]) / 1000, int(found[2]) / 1000, found[3], found[4]
        packages[name.split(".")[0]] += own
        every.append((f"{' ' * (len(indent) // 2)}{name}", cumulative))
        if len(indent) == 0:
            top[name] = top.get(name, 0.0) + cumulative
    # -X importtime lists a module after those it imports: reversed, each comes before its imports.
    return Imports(sum(top.values()), top, dict(packages), [m for m in reversed(every) if m[1] >= 40])


def measure_imports(env: dict[str, str], runs: int = 5) -> tuple[list[Imports], list[Imports]]:
    """What the launch imports before its first window, and what the pages add."""
    first = [import_time("import tnm_desktop.cli, tnm_desktop.gui.shell.app", env) for _ in range(runs)]
    pages = [import_time("import tnm_desktop.cli, tnm_desktop.gui.shell.app\n"
                         "from tnm_desktop.gui.shell.navigation import import_views\nimport_views()", env)
             for _ in range(runs)]
    return first, pages


# ------------------------------------------------------------------------------------------------
# The report


def report(cold: list[Launch], warm: list[Launch], opening: list[float], first: list[Imports],
           pages: list[Imports]) -> None:
    """Print the stages of both series, then where the import time goes."""
    print(f"opening the stopped workspace (Workspace.open: start PostgreSQL, check the migrations), as the app does "
          f"in a worker thread, timed in the launcher: p50 {pct(opening, 50):.0f} ms, min {min(opening):.0f}, "
          f"max {max(opening):.0f} (n={len(opening)})\n")
    for name, launches in (("cold: the app starts the database", cold), ("warm: the database is running", warm)):
        rows = []
        for stage in STAGES:
            values = [launch.stages[stage] * 1000 for launch in launches if stage in launch.stages]
            if values:
                rows.append((stage, len(values), pct(values, 50), min(values), max(values)))
        print(table((f"{name} (ms since launch)", "n", "p50", "min", "max"), rows))
        usable = [launch.stages["first page"] * 1000 for launch in launches]
        print("per launch, launch → first page: " + ", ".join(f"{v:.0f}" for v in usable) + " ms\n")

    total = statistics.median(i.total for i in first)
    with_pages = statistics.median(i.total for i in pages)
    print(f"python -X importtime, median of {len(first)} runs: tnm_desktop.cli + tnm_desktop.gui.shell.app "
          f"{total:.0f} ms; "
          f"with the pages' modules {with_pages:.0f} ms (+{with_pages - total:.0f} ms, imported in a worker thread "
          f"while the session is restored)")
    names = sorted(pages[0].packages, key=lambda k: -statistics.median(i.packages.get(k, 0.0) for i in pages))
    packages = [(name, statistics.median(i.packages.get(name, 0.0) for i in first),
                 statistics.median(i.packages.get(name, 0.0) for i in pages)) for name in names[:14]]
    print(table(("package (its modules' own import time, ms)", "before the first window", "with the pages"), packages))
    middle = sorted(first, key=lambda i: i.total)[len(first) // 2]
    print()
    print(table(("imports of 40 ms or more before the first window (median run; indented: imported by the one above)",
                 "cumulative ms"), middle.heaviest))


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launches", type=int, default=7, help="launches per series (default 7)")
    parser.add_argument("--signals", type=int, default=10_000, help="signals in the workspace (default 10,000)")
    parser.add_argument("--page", default="strategies", help="the page the window opens on (default strategies)")
    args = parser.parse_args()

    machine = Machine()
    try:
        print_machine()
        print(f"start-up: {args.launches} launches per series (after one not counted), {args.signals:,} signals, "
              f"the window opening on {args.page}\n")
        machine.launch("signup", args.page)  # makes the workspace, signs up with "keep me signed in"
        seed(machine, args.signals)
        cold, warm, opening = series(machine, args.launches)
        first, pages = measure_imports(machine.env)
    finally:
        machine.close()
    report(cold, warm, opening, first, pages)


if __name__ == "__main__":
    main()
