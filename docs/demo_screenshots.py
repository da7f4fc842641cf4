"""Render the app's pages on the demo, offscreen, to PNGs:
``python docs/demo_screenshots.py [OUT_DIR] [--sizes 1280x800,1920x1080]``.

It runs the real app (``run()``) on an empty machine in a temporary folder — so it opens the demo,
starts its database, simulator, receiver and agent, and posts the first alerts — waits until the
agent runs and the alerts are resolved, then saves each page (default: ``docs/screenshots``). With
``--sizes``, every page at every window size, named ``demo-<page>-<W>x<H>.png``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PAGES = ("strategies", "signals", "positions", "history", "ea_studio", "accounts", "agent", "settings")
SETTLE_S = 6.0  # after the agent runs: the first alerts resolve and the first sync lands


def main() -> int:
    args = sys.argv[1:]
    sizes: list[tuple[int, int] | None] = [None]  # None: the README's size, the plain names
    if "--sizes" in args:
        at = args.index("--sizes")
        sizes = [(int(w), int(h)) for w, h in (size.split("x") for size in args[at + 1].split(","))]
        del args[at:at + 2]
    out = Path(args[0] if args else Path(__file__).parent / "screenshots").absolute()
    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="tnm-screenshots-"))
    root.chmod(0o755)  # as root, the database server runs as another user who must enter it
    for name, sub in (("TNM_CONFIG_DIR", "config"), ("TNM_DATA_DIR", "data"), ("TNM_LOG_DIR", "log")):
        os.environ[name] = str(root / sub)

    import keyring
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from tnm_desktop.composition import gui as gui_app
    from tnm_desktop.domain import AgentState
    from tnm_desktop.gui.shell.mainwindow import MainWindow
    from tnm_desktop.keystore import FileKeyring

    keyring.set_keyring(FileKeyring(root / "keyring.json"))  # never this user's own keyring
    app = QApplication([])
    ready_at: list[float] = []
    queue = [(key, size) for size in sizes for key in PAGES]

    def tick() -> None:
        window = next((w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()), None)
        control = window.session.ctx.agent.control if window is not None else None
        if window is None or window.building or control is None or control.state is not AgentState.RUNNING:
            QTimer.singleShot(100, tick)
            return
        if not ready_at:
            ready_at.append(time.monotonic())
            window.resize(1400, 860)
        if time.monotonic() - ready_at[0] < SETTLE_S:
            QTimer.singleShot(100, tick)
            return
        if not queue:
            window.close()
            return
        key, size = queue.pop(0)
        window.resize(*(size or (1400, 860)))
        view = window.show_page("positions" if key == "history" else key)
        if key in ("positions", "history"):  # the Open positions tab, then the History tab
            view.tabs.setCurrentIndex(1 if key == "history" else 0)  # type: ignore[attr-defined]
        if key == "signals":  # show one filled order's detail: one whose alert had a price (its slippage)
            model = view.model  # type: ignore[attr-defined]
            for row in range(model.rowCount()):
                if model.index(row, 3).data() == "BUY" and model.index(row, 5).data() == "Executed" \
                        and model.index(row, 4).data():
                    view.table.selectRow(row)  # type: ignore[attr-defined]
                    break

        def save() -> None:
            path = out / (f"demo-{key}.png" if size is None else f"demo-{key}-{size[0]}x{size[1]}.png")
            window.grab().save(str(path))
            print(path, flush=True)
            tick()

        QTimer.singleShot(1500, save)

    QTimer.singleShot(100, tick)
    try:
        return gui_app.run()  # the demo's database and simulator stop with the app
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
